"""Offline Chinese OCR for scans and images (RapidOCR: PP-OCRv4 ONNX models shipped inside the wheel)."""
