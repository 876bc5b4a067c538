# Bash workload of the preload test: loops, indexed and associative arrays,
# string operations, command substitution, functions, here-strings.
set -u
LC_ALL=C

declare -a arr=()
declare -A assoc=()
n=${1:-40000}

# Indexed arrays and arithmetic.
for ((i = 0; i < n; i++)); do
	arr+=("item-$((i * 7919 % 10007))-$i")
done
echo "arr: ${#arr[@]} elements, first ${arr[0]}, last ${arr[-1]}"

# Associative arrays: counting, updating, deleting.
for ((i = 0; i < n; i++)); do
	k="key$((i * 31 % 997))"
	assoc[$k]=$(( ${assoc[$k]:-0} + i ))
done
for ((i = 0; i < 997; i += 3)); do unset "assoc[key$i]"; done
sum=0
for k in "${!assoc[@]}"; do sum=$((sum + assoc[$k])); done
echo "assoc: ${#assoc[@]} keys, sum $sum"

# String operations: substrings, replacement, case, padding, splitting.
s=""
for ((i = 0; i < 3000; i++)); do s+="${arr[i]:0:9},"; done
echo "concat: ${#s} chars"
t=${s//item/ITEM}
u=${t,,}
v=${u^^}
echo "replace: ${#t} ${t:0:40}"
echo "case: ${u:0:20} ${v:0:20}"
IFS=, read -r -a parts <<<"$s"
echo "split: ${#parts[@]} parts, ${parts[1500]}"
printf -v padded '%-30s|%08d|%x' "${parts[7]}" 1234 48879
echo "printf: $padded"
str="The quick brown fox jumps over the lazy dog"
echo "${str#* }|${str##* }|${str% *}|${str%% *}|${str/quick/slow}|${#str}"

# Command substitution (forks) and functions with locals.
fib() {
	local a=0 b=1 k
	for ((k = 0; k < $1; k++)); do
		local t=$(( (a + b) % 1000000007 )); a=$b; b=$t
	done
	echo "$a"
}
for m in 10 100 1000 5000; do echo "fib $m = $(fib "$m")"; done
words=$(for ((i = 0; i < 2000; i++)); do echo "w$((i % 97))"; done | sort | uniq -c | sort -rn | head -n 3)
echo "uniq: $(echo $words)"
nested=$(echo "$(echo "$(echo inner)-mid")-outer")
echo "nested: $nested"

# Sorting an array with a simple insertion sort on a slice.
slice=("${arr[@]:0:300}")
for ((i = 1; i < ${#slice[@]}; i++)); do
	x=${slice[i]} j=$((i - 1))
	while ((j >= 0)) && [[ ${slice[j]} > $x ]]; do slice[j + 1]=${slice[j]}; j=$((j - 1)); done
	slice[j + 1]=$x
done
echo "sorted slice: ${slice[0]} ${slice[149]} ${slice[299]}"

# Building and tearing down big arrays a few times.
for round in 1 2 3; do
	declare -A big=()
	for ((i = 0; i < 5000; i++)); do big["r$round-$i"]="value-$((i * round))-${arr[i]}"; done
	total=0
	for k in "${!big[@]}"; do total=$((total + ${#big[$k]})); done
	echo "round $round: ${#big[@]} keys, $total chars"
	unset big
done
arr=()
echo "done"
