"""The role sets of Octavia's and Keystone's default personas, named once.

`policy.py` builds its rule table from them and `context.py` answers "is this caller an
admin / may it see every project" from them, so the two can never disagree.
"""

from __future__ import annotations

ADMIN = frozenset({"admin", "load-balancer_admin"})
GLOBAL_READ = ADMIN | {"load-balancer_global_observer"}
READ = GLOBAL_READ | {"reader", "member", "load-balancer_observer", "load-balancer_member",
                      "load-balancer_quota_admin"}
WRITE = ADMIN | {"member", "load-balancer_member"}
QUOTA_WRITE = ADMIN | {"load-balancer_quota_admin"}
