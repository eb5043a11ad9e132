"""The render engine core: pure (no database), driven by a timeline and settings.

Entry point: ``rendercli.render.engine.render_timeline``. ``runner.py`` is the only
place that starts ffmpeg.
"""
