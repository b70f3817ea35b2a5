# The getting-started session on the command line (tests/test_docs_examples.py runs it).
# --8<-- [start:worker]
corral worker tasks:send_welcome_email --queue emails --concurrency 4
# --8<-- [end:worker]
# --8<-- [start:add]
corral add emails welcome '{"to": "grace@example.com"}' --attempts 3
# --8<-- [end:add]
# --8<-- [start:look]
corral status
corral jobs emails --state completed
# --8<-- [end:look]
