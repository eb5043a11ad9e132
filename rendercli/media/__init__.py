"""Media handling: finding ffmpeg, probing files, and the formats we accept."""
