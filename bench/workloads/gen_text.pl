# gen_text.pl MIB: MIB mebibytes of deterministic English-like text on stdout
# (input of the perl workload).  A vocabulary of 60000 made-up words drawn
# with a skewed (Zipf-like) distribution, 6-17 words a line; an LCG, no
# rand(), so every perl prints the same bytes.
use strict;
use warnings;
my $mib = shift // 50;
my $want = $mib * 1024 * 1024;
my $x = 20240611;
my @syl = qw(a an ar be ca de el en er es fi go ha in is ka le lo ma mi
    ne no on or pa qu ra re sa se st ta te th ti to un ur ve wi xo ya ze);
my @voc;
for my $i (0 .. 59999) {
	$x = (1103515245 * $x + 12345) % 2147483648;
	my $r = $x >> 8;
	my $w = '';
	$w .= $syl[($r >> (5 * $_)) % @syl] for 0 .. 1 + $r % 3;
	push @voc, $w;
}
my $nv = @voc;
my ($bytes, @buf) = (0);
while ($bytes < $want) {
	$x = (1103515245 * $x + 12345) % 2147483648;
	my $n = 6 + ($x >> 16) % 12;
	my @w;
	for (1 .. $n) {
		$x = (1103515245 * $x + 12345) % 2147483648;
		my $u = ($x >> 7) / 16777216;
		push @w, $voc[int($nv * $u * $u * $u)];
	}
	my $line = join(' ', @w) . ".\n";
	$bytes += length $line;
	push @buf, $line;
	if (@buf >= 4096) { print @buf; @buf = (); }
}
print @buf;
