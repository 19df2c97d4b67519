"""Allocate 16 GB, 64 MB at a time, touching every page."""

chunks = []
for _ in range(16 * 1024 // 64):
    chunks.append(b"x" * (64 << 20))
print("allocated 16 GB")
