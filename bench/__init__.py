"""`make bench`: a performance report (bench/report.md, bench/report.json) against DynamoDB Local. Not a test."""
