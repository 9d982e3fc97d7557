"""The extra link the approval operator and the approval sensor show: the review page.

Its documented (and registered) path stays ``signoff_airflow.operators.approval.
SignoffReviewLink``, which re-exports it; it lives here so that the sensor need not
import the operator's module to show the same link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey


class SignoffReviewLink(BaseOperatorLink):
    """The reviewer's page of the approval (the task pushes it as ``review_url``)."""

    name = "Review in signoff"

    @property
    def xcom_key(self) -> str:
        return "review_url"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""
