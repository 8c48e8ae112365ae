"""Where sound comes from and goes to: sources (file, array, microphone), sinks (WAV, speaker),
and speech synthesis for answers.

Heavy or optional dependencies (sounddevice/PortAudio, faster-whisper's decoder, pyttsx3) are
imported only when the class that needs them is used.
"""

from .errors import AudioError, AudioSinkError, AudioSourceError, TtsError
from .events import SpeechInterrupted, TtsDone, TtsFirstAudio
from .frames import SAMPLE_RATE, AudioFrame, frame_length
from .sentences import SentenceSplitter, clean_for_speech, split_sentences
from .sinks import AudioSink, NullSink, SpeakerSink, WavSink
from .sources import ArraySource, AudioSource, FileSource, MicrophoneSource, decode_file
from .speaker import SentenceSpeaker, SpeechReport
from .tts import SpeechSynthesizer

__all__ = [
    "SAMPLE_RATE",
    "ArraySource",
    "AudioError",
    "AudioFrame",
    "AudioSink",
    "AudioSinkError",
    "AudioSource",
    "AudioSourceError",
    "FileSource",
    "MicrophoneSource",
    "NullSink",
    "SentenceSpeaker",
    "SentenceSplitter",
    "SpeakerSink",
    "SpeechInterrupted",
    "SpeechReport",
    "SpeechSynthesizer",
    "TtsDone",
    "TtsError",
    "TtsFirstAudio",
    "WavSink",
    "clean_for_speech",
    "decode_file",
    "frame_length",
    "split_sentences",
]
