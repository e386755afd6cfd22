
FROM python:3.11-slim

ENV LC_ALL C.UTF-8
ENV LANG C.UTF-8
ENV LANGUAGE C.UTF-8

ENV SHELL /bin/bash
WORKDIR /code

RUN --mount=type=cache,target=/root/.cache/pip pip install protobuf==6.33.6 pyzmq==27.3.0 rpds-py==2026.9.1 tornado==6.6.1
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt pip install -r /tmp/requirements.txt
COPY requirements.txt /code
