# The 50-language recipe of docs/fifty-languages.md, sourced by fifty_languages.sh (CPU) and gpu_fifty.sh (GPU),
# so both run the same one. Plain words (no value holds a space): use them unquoted.
# Step 1, `mineshaft extend-vocab use`: the new pieces and the lexicon rows (same dev split and seed as training).
FIFTY_VOCAB="--dev-size 100 --seed 0 --word-pieces 20000"
# Every training run: new rows trained, languages sampled with T = 3 in mixed batches, the same dev split.
FIFTY_BASE="--train-new-rows-only --batch-size 128 --dev-size 100 --max-length 64 --sampling-temperature 3 --seed 0"
# Step 2: the new rows and copies of the 20,000 old rows the new languages use most at 2e-3, the network at 3e-5.
FIFTY_STEP2="--lr 3e-5 --embedding-lr 2e-3 --train-old-rows 20000 --loss soft --tcm"
# Steps 2c and 2e (versions 6 and 7): the added rows alone, the network and every old row frozen, 5% of the draws
# for the languages the start knew.
FIFTY_ROWS="--lr 3e-5 --embedding-lr 2e-3 --freeze-network --known-share 0.05 --loss soft --tcm"
