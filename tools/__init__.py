"""Operator tools: bus inspection, a charge point simulator, the demo and the container health check."""
