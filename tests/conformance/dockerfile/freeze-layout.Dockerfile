
FROM python:3.11-slim

ENV LC_ALL C.UTF-8
ENV LANG C.UTF-8
ENV LANGUAGE C.UTF-8

ENV SHELL /bin/bash
WORKDIR /code

RUN --mount=type=cache,target=/root/.cache/pip pip install numpy==1.26.4
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,source=deps/prod.txt,target=/tmp/prod.txt pip install -r /tmp/prod.txt
COPY deps/prod.txt /code
COPY helper.py /code
COPY tools /code/tools
