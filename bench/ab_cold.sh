#!/usr/bin/env bash
# Cold `rag ask` of two checkouts, alternating runs, a different question each time; prints
# "old SECONDS" / "new SECONDS" lines and the medians. Used for docs/benchmarks.md (c2):
#   git worktree add /tmp/old ae0323e
#   (cd /tmp/old && PYTHONPATH=/tmp/old python -m rag.cli index seeds --index /tmp/old-index)
#   rag index seeds --index index
#   OLD=/tmp/old OLD_INDEX=/tmp/old-index NEW=. NEW_INDEX=index N=20 bash bench/ab_cold.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OLD=$(cd "${OLD:?}" && pwd); NEW=$(cd "${NEW:-.}" && pwd)
OLD_INDEX=$(cd "${OLD_INDEX:?}" && pwd); NEW_INDEX=$(cd "${NEW_INDEX:-index}" && pwd)
QUESTIONS=("Who leads the Polish-led force?" "When did NATO take over the peacekeeping?"
           "Which country offered a battalion?" "What did Robertson say about Iraq?" "Where is the headquarters?")
out=$(mktemp)
for i in $(seq 0 $(( ${N:-20} - 1 ))); do
  q="${QUESTIONS[$((i % ${#QUESTIONS[@]}))]}"
  for side in old new; do
    if [ "$side" = old ]; then dir=$OLD; idx=$OLD_INDEX; else dir=$NEW; idx=$NEW_INDEX; fi
    start=$(date +%s.%N)
    (cd "$dir" && PYTHONPATH=$dir python -m rag.cli ask "$q" --index "$idx" >/dev/null 2>&1)
    echo "$side $(echo "$(date +%s.%N) - $start" | bc)" | tee -a "$out"
  done
done
python - "$out" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
old = [float(t) for s, t in rows if s == "old"]
new = [float(t) for s, t in rows if s == "new"]
diff = [b - a for a, b in zip(old, new)]
print(f"old median {statistics.median(old):.3f} s, new median {statistics.median(new):.3f} s, "
      f"median paired difference {statistics.median(diff):+.3f} s over {len(diff)} pairs")
PY
rm -f "$out"
