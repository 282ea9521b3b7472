#!/usr/bin/env bash
# Debian packages the test suite talks to for real: brokers, speech synthesis, Prometheus,
# PortAudio over a PulseAudio null sink, and compose-file validation. Idempotent.
set -euo pipefail
pkgs=(mosquitto espeak-ng flite festival festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts prometheus pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins sox docker-compose)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
