"""Pure rendering of load balancer snapshots into daemon configuration text."""

from nslb.render.haproxy import ping_wrapper_path, render_haproxy, stats_socket_path

__all__ = ["ping_wrapper_path", "render_haproxy", "stats_socket_path"]
