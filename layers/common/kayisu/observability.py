"""Logs and metrics, made once per container for the domain and the plumbing alike: the
Powertools Logger (JSON lines, the request id as correlation id, set by kayisu.web) and
Metrics (CloudWatch EMF in the `Kayisu` namespace, flushed by each handler's `log_metrics`).

A domain module logs and counts through these and so never imports the HTTP plumbing: a queue
or schedule function does not load Powertools' event handler at its cold start. What a log
line carries is held to promise 6: never a code, a secret or an email address."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Kayisu")
# Most API calls publish no custom metric; that is not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")
