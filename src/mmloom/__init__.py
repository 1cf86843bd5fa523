"""mmloom: exact, streaming conversion between multimodal training-data formats through
Data-Juicer's unified interleaved format.

Architecture, in one paragraph: a format (``mmloom/formats/<name>.py``) is two pure functions,
record -> unified Sample (``model.py``) and back, plus its typed options. ``djcodec.py`` is the one
place that reads and writes Data-Juicer's token text. Readers and writers (``io/``) know file types
(JSON array, JSON Lines, Parquet, CSV; gzip/zstd), never formats. Engines (``engine/``) move records
from readers through the two functions to writers, in one process or many, and know neither.
"""

from .api import convert, convert_record, formats, read
from .errors import InputError, MmloomError, RecordError, UsageError
from .model import Chunk, Media, Role, Sample, Text, Tokens

__version__ = "0.1.0"

__all__ = [
    "convert", "convert_record", "formats", "read",
    "MmloomError", "UsageError", "RecordError", "InputError",
    "Sample", "Chunk", "Text", "Media", "Role", "Tokens",
]
