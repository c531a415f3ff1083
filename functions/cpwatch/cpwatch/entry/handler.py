"""Lambda entry point: parse, wire, call. No logic lives here.

Dependencies (clients, token and credentials caches, validated settings) are built once per
execution environment and reused by warm invocations; a 1-minute schedule keeps it warm.
"""

from __future__ import annotations

import os
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger

from ..errors import ConfigError
from ..aws.clients import AFTER_CHECK_CLIENT_CONFIG, SECOND_OPINION_CLIENT_CONFIG, aws_client
from ..aws.eks_connect import api_from_eks
from ..aws.eks_token import TokenCache
from ..aws.home_account import HomeAccount
from ..aws.role_chain import CredentialsCache, assumed_session
from .invocation import Target
from .pipeline import Dependencies, handle
from .second_opinion import AwsSources
from ..settings import DeploymentSettings, Settings, deployment_settings_from_env, settings_from_env
from ..telling.store import Store
from ..timeutil import Deadline

logger = Logger(service="cpwatch")


@lru_cache(maxsize=1)
def configuration() -> tuple[Settings, DeploymentSettings]:
    return settings_from_env(os.environ), deployment_settings_from_env(os.environ)


@lru_cache(maxsize=1)
def dependencies() -> Dependencies:
    settings, deployment = configuration()
    session = boto3.Session()
    region = deployment.region or session.region_name
    token_cache, credentials_cache = TokenCache(), CredentialsCache()

    def connect(target: Target, deadline: Deadline):
        return api_from_eks(target.cluster, target.region, settings.request_timeout_s, deadline, session=session,
                            role_arn=target.role_arn, external_id=target.external_id, token_cache=token_cache,
                            credentials_cache=credentials_cache)

    def session_for(target: Target) -> boto3.Session:
        if target.role_arn:
            return assumed_session(target.role_arn, target.external_id, region=target.region,
                                   session=session, cache=credentials_cache)
        return session

    def ec2_for(target: Target):
        return aws_client("ec2", target.region, session_for(target))

    def aws_sources_for(target: Target) -> AwsSources:
        target_session = session_for(target)
        return AwsSources(
            cloudwatch=aws_client("cloudwatch", target.region, target_session, config=SECOND_OPINION_CLIENT_CONFIG),
            logs=aws_client("logs", target.region, target_session, config=SECOND_OPINION_CLIENT_CONFIG))

    store = (Store(aws_client("dynamodb", region, session, config=AFTER_CHECK_CLIENT_CONFIG), deployment.table_name)
             if deployment.table_name else None)
    sns = aws_client("sns", region, session, config=AFTER_CHECK_CLIENT_CONFIG) if deployment.topic_arn else None
    home = HomeAccount(lambda: aws_client("sts", region, session))
    return Dependencies(connect=connect, store=store, sns=sns, ec2_for=ec2_for, aws_sources_for=aws_sources_for,
                        home_account=home)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context) -> dict:
    try:
        settings, deployment = configuration()
        deps = dependencies()
    except ConfigError as error:
        # Raised on: the function's Errors alarm pages, with this message in the log.
        logger.error("cpwatch is misconfigured: %s", error)
        raise
    # The function's own account (targets without a role are in it), from its ARN: no call.
    deps.home_account.learn(getattr(context, "invoked_function_arn", None))
    return handle(event, context.get_remaining_time_in_millis(), deps, settings, deployment)
