#!/usr/bin/env bash
# Rebuild the shipped models from generated data and measure them.
#
#   models/reproduce.sh              # train both models (about 1-2 minutes each on one CPU core)
#   models/reproduce.sh --eval DIR   # then also score them on a NAB-layout corpus at DIR
#                                    # (DIR/data/<category>/<file>.csv + DIR/combined_windows.json)
#
# Training is deterministic for a given torch build and --threads: the same command writes the
# same weights (the manifests record the command, the data generator and its seed).
set -euo pipefail
cd "$(dirname "$0")/.."

rnnstream train forecast --config models/configs/forecast.yaml
rnnstream train anomaly --config models/configs/anomaly.yaml

if [[ "${1:-}" == "--eval" && -n "${2:-}" ]]; then
    nab="$2"
    mkdir -p build/eval
    rnnstream eval forecast --data "$nab/data" --json build/eval/forecast_nab.json
    rnnstream eval anomaly --data "$nab/data" --labels "$nab/combined_windows.json" \
        --results-dir build/eval/nab-results --json build/eval/anomaly_nab.json
fi
