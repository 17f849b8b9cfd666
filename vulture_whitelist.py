"""Names vulture cannot see used (read by `make lint` through [tool.vulture] in pyproject.toml).

Each is used from outside Python's view, or kept on purpose; say which when adding one.
"""
# ruff: noqa
# fmt: off

# Response-model fields: serialised into the OpenAPI document and answers, never read by name.
_.excluded_alternatives
_.lookup_ip
_.hash
_.age_days
_.schema_  # DecisionRecord.schema_, the record's "schema" key (alias)
# Fields of data records: part of a memo key (CallerFacts) or of a loaded policy document.
_.subdivision_data
_.notes
# Lambda's context object, as Powertools reads it (local/runtime.LambdaContext).
_.function_version
_.memory_limit_in_mb
_.invoked_function_arn
_.aws_request_id
_.log_group_name
_.log_stream_name
_.get_remaining_time_in_millis
# Not wired up yet; their owners this session (issue 13, audit) are wiring them.
_.by_provider_day  # aws/store.py: the provider-day index has no reader yet
_._collect_reviews  # local/server.py
_die_with_parent  # local/server.py
# Not called yet; their owner this session (issue 16, columnar) is building on them.
jsonl_bytes  # columnar/records.py
flat_table  # columnar/records.py
# pytest-cov's option, switched off for partial runs (tests/conftest.py).
_.cov_fail_under
