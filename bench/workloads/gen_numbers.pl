# gen_numbers.pl N: N deterministic lines for `sort -n`: integers of 1 to 9
# digits, some negative, some with decimals, most followed by a short tag
# (an LCG, no rand(), so every perl prints the same bytes).
use strict;
use warnings;
my $n = shift // 2000000;
my $x = 777;
my @tag = ('', ' a', ' bc', ' def', ' ghij', ' x y z');
my @buf;
for my $i (1 .. $n) {
	$x = (1103515245 * $x + 12345) % 2147483648;
	my $r = $x >> 4;
	my $v = $r % (10 ** (1 + $r % 9));
	$v = -$v if $r & 0x1000000;
	$v .= '.' . ($r % 1000) if ($r >> 3) % 4 == 0;
	push @buf, $v . $tag[($r >> 5) % @tag] . "\n";
	if (@buf >= 8192) { print @buf; @buf = (); }
}
print @buf;
