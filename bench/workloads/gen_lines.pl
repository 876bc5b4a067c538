# gen_lines.pl N: N deterministic lines "NUMBER word word ... word"
# (a linear congruential generator, no rand(), so every perl gives the same).
use strict;
use warnings;
my $n = shift // 200000;
my $x = 12345;
# The high bits only: the low bits of a power-of-two LCG have short periods.
sub nxt { $x = (1103515245 * $x + 12345) % 2147483648; return $x >> 16; }
my @syl = qw(ka lo mi nu pe ra si to vu xa ze bo cy da fe gi hu);
for my $i (1 .. $n) {
	my $num = (nxt() * 32768 + nxt()) % 1000000 - 200000;
	my @w;
	my $nw = 1 + nxt() % 8;
	for (1 .. $nw) {
		my $len = 1 + nxt() % 4;
		my $word = "";
		$word .= $syl[nxt() % @syl] for 1 .. $len;
		push @w, $word;
	}
	print "$num @w\n";
}
