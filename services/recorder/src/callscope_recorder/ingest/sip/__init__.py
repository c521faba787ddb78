"""SIP for the SIPREC recording server: message parsing/building and SIPREC offers."""
