"""Generate the media examples/greetings/video.yaml uses (nothing large is committed).

Writes intro.mp4 (a 4 s test pattern with a tone), photo.png and song.mp3 (6 s) next to
this script, with the ffmpeg rendercli itself uses (RENDERCLI_FFMPEG, ffmpeg on PATH, or
the one in the imageio-ffmpeg wheel).

Run: python examples/greetings/make_media.py [FOLDER]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rendercli.media.ffmpeg_binary import ffmpeg_path

MEDIA = {
    "intro.mp4": ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=4",
                  "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                  "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"],
    "photo.png": ["-f", "lavfi", "-i", "smptebars=size=640x480", "-frames:v", "1"],
    "song.mp3": ["-f", "lavfi", "-i", "sine=frequency=330:duration=6", "-c:a", "libmp3lame"],
}


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    folder.mkdir(parents=True, exist_ok=True)
    for name, args in MEDIA.items():
        subprocess.run([ffmpeg_path(), "-nostdin", "-y", "-hide_banner", "-loglevel", "error",
                        *args, str(folder / name)], check=True)
        print(folder / name)


if __name__ == "__main__":
    main()
