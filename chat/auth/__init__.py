"""Who is asking: sessions and the principals they carry."""
