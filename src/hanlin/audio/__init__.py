"""Speech: meeting recordings → speaker-labelled, timestamped transcripts (offline: faster-whisper + CAM++)."""
