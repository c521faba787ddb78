"""Media and signalling ingest: SIPREC over SIP/UDP and RTP."""
