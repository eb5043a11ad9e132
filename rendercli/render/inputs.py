"""Input format allow-list for user media.

Placeholder: at merge this is repointed at ``rendercli.media.formats``.
"""

from __future__ import annotations

INPUT_FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mp3,wav,flac,ogg,aac,png_pipe,jpeg_pipe,webp_pipe,gif,bmp_pipe,tiff_pipe"  # noqa: E501
