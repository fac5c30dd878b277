"""The model worker: every uploaded model is loaded and run in a separate, contained process.

The app process sends arrays and receives arrays (`codec`), never objects; the worker applies its limits
(`sandbox`) before it reads the checkpoint, and runs only functions registered with `worker_op` (`ops`).
`client.ModelWorker` starts and talks to it; `server` is its side of the pipe.
"""
