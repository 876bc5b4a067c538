# Perl workload of the preload test: word counting and hashing over FILE.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
my $file = shift or die "usage: workload.pl FILE [CHURN_KEYS]\n";
my $churn = shift // 100000;
open(my $fh, '<', $file) or die "$file: $!\n";
my (%count, %first, %bylen, @nums);
my ($lines, $words) = (0, 0);
while (my $line = <$fh>) {
	chomp $line;
	$lines++;
	my ($num, @w) = split / /, $line;
	push @nums, $num;
	for my $w (@w) {
		$words++;
		$count{$w}++;
		$first{$w} //= $lines;
		push @{$bylen{length $w}}, $w if $count{$w} == 1;
	}
}
close $fh;
my @top = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
print "lines $lines words $words distinct ", scalar(keys %count), "\n";
printf "%-12s %6d first at %d\n", $_, $count{$_}, $first{$_} for @top[0 .. 19];
for my $len (sort { $a <=> $b } keys %bylen) {
	my $l = $bylen{$len};
	printf "len %2d: %6d words, md5 %s\n", $len, scalar(@$l), md5_hex(join(",", sort @$l));
}
my @sorted = sort { $a <=> $b } @nums;
my $sum = 0;
$sum += $_ for @nums;
print "nums: sum $sum min $sorted[0] max $sorted[-1] median $sorted[@sorted / 2]\n";
# Rebuild and destroy a big string-keyed hash a few times (allocation churn).
for my $round (1 .. 3) {
	my %h;
	$h{"$_-$round"} = [$_, "x" x ($_ % 64)] for 1 .. $churn;
	my $total = 0;
	$total += length($h{$_}[1]) for keys %h;
	my $joined = join "", map { substr($_, 0, 3) } sort keys %h;
	print "round $round: ", scalar(keys %h), " keys, $total bytes, md5 ", md5_hex($joined), "\n";
}
my %inv;
push @{$inv{$count{$_}}}, $_ for keys %count;
print "count classes ", scalar(keys %inv), ", md5 ",
	md5_hex(join ";", map { "$_:" . join(",", sort @{$inv{$_}}) } sort { $a <=> $b } keys %inv), "\n";
