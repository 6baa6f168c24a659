"""Card batch ingestion: uploaded files to encrypted, de-duplicated cards."""
