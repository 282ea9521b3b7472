#!/usr/bin/env bash
# Capture a `rnnstream transcribe --mic` terminal session with a real voice, for the README.
#
#   docs/capture-mic-session.sh OUT.txt [AUDIO] [TRANSCRIBE FLAGS...]
#
# What it does, without touching the desktop's sound (everything runs in a temporary folder):
#   1. starts a private PulseAudio (own XDG_RUNTIME_DIR and HOME, as the `virtual_mic` fixture in
#      tests/connectors/test_microphone.py does) with a 16 kHz mono null sink `virtual_mic`, and an
#      ~/.asoundrc whose ALSA device `virtual_mic` records that sink's monitor;
#   2. runs `rnnstream transcribe --mic --device virtual_mic [FLAGS]` on a pseudo-terminal (`script`),
#      so the live view draws exactly as it does for a user;
#   3. once it listens, plays AUDIO (default: the LibriSpeech recording tests/data/speech/
#      1867-154075-0005.flac, CC BY 4.0) into the sink with paplay, waits 1.5 s and stops the
#      command with SIGINT (what Ctrl-C sends: the open utterance comes out as a final);
#   4. writes OUT.txt: the prompt line and the terminal's final screen as plain text, ready to
#      paste; OUT.txt.live: the screen at 80 % of the speech (the live view: partial, level
#      meter, latencies); OUT.txt.typescript and OUT.txt.timing: the raw session (replay it
#      with `scriptreplay -t OUT.txt.timing OUT.txt.typescript`). It prints both screens.
#
# Needs pulseaudio, pulseaudio-utils, libasound2-plugins (tests/system-deps.sh installs them),
# `script` (util-linux) and rnnstream with the audio extra. RNNSTREAM overrides the command
# (default: `rnnstream`, else `python3 -m rnnstream.cli`); COLUMNS (default 100) sets the width.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
audio="${2:-$root/tests/data/speech/1867-154075-0005.flac}"
shift $(($# >= 2 ? 2 : 1))
for tool in pulseaudio pactl paplay script python3; do
  command -v "$tool" >/dev/null || { echo "capture-mic-session: $tool is not installed (tests/system-deps.sh)" >&2; exit 1; }
done
if [[ -n ${RNNSTREAM:-} ]]; then
  read -r -a cli <<<"$RNNSTREAM"
elif command -v rnnstream >/dev/null; then
  cli=(rnnstream)
else
  cli=(python3 -m rnnstream.cli)
fi
cols="${COLUMNS:-100}"
mkdir -p "$(dirname "$out")"

tmp="$(mktemp -d)"
pulse_pid="" cli_pid=""
cleanup() {
  # Only what this script started: the command (if it outlived the SIGINT) and the private daemon.
  if [[ -n $cli_pid ]] && kill -0 "$cli_pid" 2>/dev/null; then kill -KILL "$cli_pid" 2>/dev/null || true; fi
  if [[ -n $pulse_pid ]] && kill -0 "$pulse_pid" 2>/dev/null; then kill -TERM "$pulse_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1. A private PulseAudio with a 16 kHz mono null sink; ALSA's `virtual_mic` records its monitor.
mkdir -m 700 "$tmp/run"
mkdir "$tmp/home"
cat >"$tmp/home/.asoundrc" <<'ASOUNDRC'
pcm.!default { type pulse }
ctl.!default { type pulse }
pcm.virtual_mic { type pulse device "virtual_mic.monitor" hint { show on description "PulseAudio null sink monitor" } }
ASOUNDRC
export XDG_RUNTIME_DIR="$tmp/run" HOME="$tmp/home" PULSE_SERVER="unix:$tmp/run/pulse/native"
pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit -n \
  --load=module-native-protocol-unix \
  "--load=module-null-sink sink_name=virtual_mic rate=16000 channels=1 format=s16le" \
  --load=module-always-sink "--log-target=file:$tmp/pulse.log"
pulse_pid="$(head -n1 "$tmp/run/pulse/pid")"

# The speech as a 16 kHz WAV (any format rnnstream reads goes in), with a quarter second of
# silence in front: PulseAudio loses the first milliseconds of a new stream on a null sink.
seconds="$(python3 - "$audio" "$tmp/speech.wav" <<'PY'
import sys

import numpy as np

from rnnstream.asr.wav import load_mono_16k, write_wav

x = np.concatenate([np.zeros(4000, np.float32), load_mono_16k(sys.argv[1])])
write_wav(sys.argv[2], x, 16000)
print(x.size / 16000)
PY
)"

# 2. The command on a pseudo-terminal. The inner shell records its pid and execs, so that pid is
#    rnnstream's own and SIGINT reaches it as Ctrl-C would.
printf -v cmd '%q ' "${cli[@]}" transcribe --mic --device virtual_mic "$@"
script -q -f --log-out "$tmp/typescript" --log-timing "$tmp/timing" \
  -c "stty cols $cols rows 40; echo \$\$ > $tmp/cli.pid; exec $cmd" </dev/null >/dev/null 2>&1 &
script_pid=$!
for _ in $(seq 600); do
  [[ -s $tmp/cli.pid ]] && grep -q "listening" "$tmp/typescript" 2>/dev/null && break
  kill -0 "$script_pid" 2>/dev/null || { cat "$tmp/typescript" >&2; echo "capture-mic-session: rnnstream exited" >&2; exit 1; }
  sleep 0.1
done
cli_pid="$(cat "$tmp/cli.pid")"
grep -q "listening" "$tmp/typescript" || { echo "capture-mic-session: rnnstream never listened" >&2; exit 1; }

# 3. Speak into the virtual microphone, note where the session stands at 80 % of the speech,
#    leave a moment of silence, then Ctrl-C.
sleep 0.5
paplay -d virtual_mic "$tmp/speech.wav" &
play_pid=$!
sleep "$(python3 -c 'import sys; print(round(0.8 * float(sys.argv[1]), 2))' "$seconds")"
live_at="$(stat -c %s "$tmp/typescript")"
wait "$play_pid"
sleep 1.5
kill -INT "$cli_pid"
wait "$script_pid" || true

# 4. The screens as plain text, through a small terminal emulator for what rich's live view writes
#    (cursor up, erase line, colours).
cp "$tmp/typescript" "$out.typescript"
cp "$tmp/timing" "$out.timing"
python3 - "$tmp/typescript" "$out" "$ ${cmd% }" "$live_at" <<'PY'
import re
import sys

TOKENS = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b\][^\x07]*\x07|\x1b.|[\r\n\b\x07]|[^\x1b\r\n\b\x07]")


def render(data: bytes) -> str:
    raw = data.decode("utf-8", "replace")
    raw = re.sub(r"\AScript started[^\n]*\n|\nScript done[^\n]*\n?\Z", "", raw)  # script's own log lines
    screen, row, col = [[]], 0, 0
    for m in TOKENS.finditer(raw):
        tok = m.group(0)
        while len(screen) <= row:
            screen.append([])
        cur = screen[row]
        if m.group(2):
            args = [int(a) if a.isdigit() else 0 for a in m.group(1).lstrip("?").split(";")]
            n, op = args[0] or 1, m.group(2)
            if op == "A":
                row = max(0, row - n)
            elif op == "B":
                row += n
            elif op == "C":
                col += n
            elif op == "D":
                col = max(0, col - n)
            elif op == "G":
                col = n - 1
            elif op == "K" and args[0] == 0:
                del cur[col:]
            elif op == "K" and args[0] == 1:
                cur[: col + 1] = [" "] * min(len(cur), col + 1)
            elif op == "K":
                cur.clear()
            elif op == "J" and args[0] == 0:
                del cur[col:]
                del screen[row + 1:]
        elif tok == "\r":
            col = 0
        elif tok == "\n":
            row += 1
        elif tok == "\b":
            col = max(0, col - 1)
        elif len(tok) == 1 and tok >= " ":
            cur.extend(" " * (col - len(cur)))
            cur[col:col + 1] = [tok]
            col += 1
    return "\n".join("".join(c).rstrip() for c in screen).strip("\n")


data = open(sys.argv[1], "rb").read()
prompt = sys.argv[3]
open(sys.argv[2], "w").write(f"{prompt}\n{render(data)}\n")
open(sys.argv[2] + ".live", "w").write(f"{prompt}\n{render(data[: int(sys.argv[4])])}\n")
PY
echo "== $out.live (80 % into the speech)"
cat "$out.live"
echo "== $out (after Ctrl-C)"
cat "$out"
