#!/usr/bin/python3
"""Drive a vtafarm runner from Python, knowing nothing but Protos/vtafarm.proto.

    protoc --proto_path=Protos --python_out=OUT Protos/vtafarm.proto   # Debian: protobuf-compiler
    PYTHONPATH=OUT python3 Scripts/examples/python_client.py tcp://127.0.0.1:7600

Needs Debian's python3-zmq and python3-protobuf. Prints the Welcome and one measurement
(ResNet-18's C2 with a good schedule), then exits 0 when the runner answered as the protocol says.
"""
import sys
import zmq
import vtafarm_pb2 as pb

endpoint = sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:7600"
context = zmq.Context()
socket = context.socket(zmq.DEALER)  # one DEALER per runner; every message is one frame
socket.setsockopt(zmq.LINGER, 0)
socket.connect(endpoint)


def exchange(envelope, timeout_ms=10000):
    envelope.protocol_version = 1
    socket.send(envelope.SerializeToString())
    if not socket.poll(timeout_ms):
        sys.exit(f"no answer from {endpoint} within {timeout_ms} ms")
    reply = pb.Envelope()
    reply.ParseFromString(socket.recv())
    return reply


welcome = exchange(pb.Envelope(hello=pb.Hello(coordinator="python example")))
assert welcome.WhichOneof("body") == "welcome", welcome
print(f"welcome: runner {welcome.welcome.runner}, {welcome.welcome.slots} slots, backends {list(welcome.welcome.backends)}")

stock = dict(log_inp_width=3, log_wgt_width=3, log_acc_width=5, log_batch=0, log_block_in=4, log_block_out=4,
             log_uop_buff_size=15, log_inp_buff_size=15, log_wgt_buff_size=18, log_acc_buff_size=17,
             axi_width=64, max_burst=16, clock_mhz=100.0, dram_latency=16, target="sim", hw_ver="0.0.2")
request = pb.MeasureRequest(
    request_id=1, task="resnet18/C2",
    workload=pb.Workload(kind=pb.Workload.CONV2D, batch=1, height=56, width=56, in_channels=64, out_channels=64,
                         kernel_h=3, kernel_w=3, stride=1, pad=1),
    hardware=pb.HardwareConfig(**stock),
    schedule=pb.Schedule(tile_b=1, tile_h=28, tile_w=8, tile_ci=1, tile_co=2, h_nthread=2, oc_nthread=2),
    backend="vta-sim", timeout_ms=30000)
reply = exchange(pb.Envelope(measure_request=request))
assert reply.WhichOneof("body") == "measure_result", reply
result = reply.measure_result
print(f"result: request {result.request_id} {pb.Status.Name(result.status)}, {result.cycles} cycles, "
      f"{result.counters.gemm_uops} GEMM uops, runner {result.runner}")
assert result.status == pb.OK and result.cycles > 0
