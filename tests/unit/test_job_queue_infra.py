"""The job worker's queue exists in Azure: the Bicep creates it (and its poison queue) and grants the app on it,
under the name the code binds to."""

from pathlib import Path

from shared.actions.operations import JOB_QUEUE

BICEP = Path(__file__).resolve().parents[2] / "infra" / "main.bicep"


def test_the_job_queue_is_created_and_granted():
    bicep = BICEP.read_text()
    assert f"var jobQueueName = '{JOB_QUEUE}'" in bicep
    queues = bicep[bicep.index("var appQueueNames = ["):]
    listed = queues[:queues.index("]")]
    assert "jobQueueName" in listed and "jobPoisonQueueName" in listed
