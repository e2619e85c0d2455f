#!/bin/bash
# A sweep on a Cloud TPU slice, one process per host, each training its chunks on its own chips
# (docs/experiments.md §6.2).
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b WORKDIR=/mnt/shared/dist_sweep examples/tpu_slice_sweep.sh
#
# Every host of the slice runs the same command (--worker=all). jax.distributed.initialize() reads the
# coordinator, the host count and each host's id from the TPU metadata, so no flag names them.
# WORKDIR must be a folder every host mounts, e.g. a Filestore (NFS) share mounted at /mnt/shared on
# each host; a host's local disk does not do (the sweep refuses it: "workdir ... is not shared").
# The repository must be checked out and installed at the same path on every host, e.g. with
#   gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all \
#     --command='git clone <this repository> dae-theory && pip install -e "./dae-theory" "jax[tpu]==0.10.1"'
# A rerun (the same slice or another size) resumes from WORKDIR/chunks.

set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}" "${WORKDIR:?set WORKDIR to a shared folder}"
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="
  cd dae-theory && python -m examples.distributed_sweep --workdir '$WORKDIR' $*"
