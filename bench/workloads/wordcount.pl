# wordcount.pl FILE: word and bigram counts over a text file, held in perl
# hashes, then the most frequent of each and a few aggregates.  Prints only
# deterministic results (ties are broken by the word).
use strict;
use warnings;
my $file = shift or die "usage: $0 FILE\n";
open my $fh, '<', $file or die "$file: $!\n";
my (%words, %bigrams, %bylen, $nwords, $nlines);
while (my $line = <$fh>) {
	$nlines++;
	chomp $line;
	chop $line;    # the full stop
	my @w = split / /, $line;
	$nwords += @w;
	$words{$_}++ for @w;
	if ($nlines % 16 == 0) {
		$bigrams{"$w[$_ - 1] $w[$_]"}++ for 1 .. $#w;
	}
	push @{ $bylen{scalar @w} }, $w[0] if @w && $nlines % 8 == 0;
}
close $fh;
my @top = (sort { $words{$b} <=> $words{$a} || $a cmp $b } keys %words)[0 .. 19];
my @topb = (sort { $bigrams{$b} <=> $bigrams{$a} || $a cmp $b }
    grep { $bigrams{$_} > 2 } keys %bigrams)[0 .. 9];
print "lines $nlines words $nwords distinct ", scalar(keys %words), " bigrams ", scalar(keys %bigrams), "\n";
print "word $_ $words{$_}\n" for @top;
print "bigram '$_' $bigrams{$_}\n" for @topb;
for my $n (sort { $a <=> $b } keys %bylen) {
	my %seen;
	$seen{$_}++ for @{ $bylen{$n} };
	printf "len %d lines %d distinct-first %d\n", $n, scalar @{ $bylen{$n} }, scalar keys %seen;
}
