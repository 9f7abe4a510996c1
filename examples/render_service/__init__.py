"""An example backend that sells renders for credits through a hold (see README.md)."""
