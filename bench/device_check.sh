#!/usr/bin/env bash
# One lease of a GPU machine, in one call: the CUDA path (the notebooks' `#| cuda` cells, bf16 autocast steps of both
# recipes, a throughput table) and then issue 32's levers on glyphs (bench/flat_proxy.py), four runs at once. Session 19
# found the budget it needs: the cuda cells of 05 and 11 did not end in 150 s, and twelve lever runs at once did not end
# in five minutes; 15 minutes of device time hold the first three steps and about four lever runs.
# The machine has PyTorch, timm and transformers but not fastai or nbdev: their wheels travel in .whl (the device tool's
# README: `pip download --no-deps --python-version 3.12 ... -d .whl`): fastai, fastcore, fastprogress, fasttransform,
# fastdownload, plum-dispatch, beartype; python-fasthtml (fastprogress imports it) with beautifulsoup4, soupsieve, httpx2,
# httpcore2, itsdangerous, oauthlib, python-multipart, starlette, truststore, uvicorn; nbdev with execnb, fastgit, ghapi,
# astunparse, watchdog, asttokens, and IPython with its needs (jedi, parso, pexpect, ptyprocess, prompt_toolkit, wcwidth,
# stack_data, executing, pure_eval, traitlets, matplotlib-inline, ipython-pygments-lexers).
#
#     bash bench/device_check.sh "--recon-weight 0" "--target-norm layer" ...    # each argument: one lever run's train options
#
# Everything it prints lands in $OUT: gpu.txt, cuda_cells.log, throughput.md, mfu.md (MFU against the GPU's own bf16 peak), levers.md (one row per run), readouts.md.
set -u
OUT=${OUT:-/tmp/device_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD:$PWD/bench PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'bf16', torch.cuda.is_bf16_supported())" >> "$OUT/gpu.txt" 2>&1

python3 bench/flat_proxy.py /tmp/flat --kinds glyphs > "$OUT/glyphs.log" 2>&1 &
glyphs=$!
timeout 240 nbdev-test --flags cuda --path-glob "*05_learner*" > "$OUT/cuda_cells.log" 2>&1; echo "rc $?" >> "$OUT/cuda_cells.log"
timeout 80 python3 bench/throughput.py --device cuda --modes eager --sizes "cpu preset 32 px" "ViT-B/16 224 px" > "$OUT/throughput.md" 2>&1
timeout 150 python3 bench/mfu.py --device cuda --sizes "cpu preset 64 px" "ViT-B/16 224 px" > "$OUT/mfu.md" 2>&1
wait $glyphs
python3 -c "
from pathlib import Path; from proxy_family import make_split; from data2vec_vision.data import labeled_images
for split in ('train', 'val'):
    files, y, _ = labeled_images(f'/tmp/flat/glyphs/{split}'); make_split(files, y, Path(f'/tmp/pf/32px_gray/{split}'), 32, True)
" >> "$OUT/glyphs.log" 2>&1

i=0
for options in "" "$@"; do
  i=$((i + 1))
  ( timeout 270 python3 bench/proxy_family.py /tmp/flat/glyphs --sizes 32 --grids 8 --colours gray --counts all --work /tmp/pf --device cuda \
      --num-workers 3 --save /tmp/models/$i --train-options "--precision bf16 $options" > /tmp/lever_$i.md 2>&1
    echo "| \`${options:-defaults}\` $(tail -1 /tmp/lever_$i.md)" >> "$OUT/levers.md"; tail -n 3 /tmp/lever_$i.md >> "$OUT/lever_logs.txt"
    python3 bench/readouts.py /tmp/models/$i/32px_gray_8x8_all.pt /tmp/pf/32px_gray --num-workers 3 2>/dev/null \
      | sed "s/^/${options:-defaults} /" >> "$OUT/readouts_$i.md" ) &
  if (( i % 4 == 0 )); then wait; fi
done
wait
cat "$OUT"/readouts_*.md > "$OUT/readouts.md" 2>/dev/null; rm -f "$OUT"/readouts_*.md
