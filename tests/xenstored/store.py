# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node tree of the test XenStore daemon: permissions, quotas and transactions.

Pure data structure, no I/O. It follows Xen 4.17's C xenstored
(``tools/xenstore/xenstored_core.c``, ``xenstored_transaction.c``, ``xenstored_domain.c``):

* Every node has a value (bytes), a permission list, an ordered child list and a generation
  that changes whenever the node is written (its value, perms or child list).
* ``perm_for()`` is ``perm_for_conn()``: privileged callers and the owner get everything,
  then the first ACL entry naming the caller (or its target), else the first entry's bits.
  ACL entries of domains that do not exist, or were created after the permissions were
  set (a re-used domid), are ignored (``domain_adjust_node_perms()``).
* ``get_node()`` hides existence like ``get_node()``/``errno_from_parents()``: a missing
  node gives ENOENT only if the nearest existing ancestor grants the requested access,
  otherwise EACCES; an existing node without the access gives EACCES.
* Writing a missing node creates it and every missing ancestor (``construct_node()``);
  they inherit the nearest existing ancestor's permissions and an unprivileged creator
  becomes their owner. Writing needs write access to the node, or to that ancestor when the
  node is new. Unprivileged domains are limited to 1000 owned nodes and records (value,
  children, perms) of less than 2048 bytes (ENOSPC); SET_PERMS takes at most 5 entries
  from them.
* Transactions (``xenstored_transaction.c``): reads see the transaction's own changes and
  otherwise each node as the transaction first saw it (``access_node()`` copies a node into
  the transaction at its first access, and later reads get that copy: a DIRECTORY_PART
  sequence in a transaction sees one generation); every node the transaction looked at (a
  write or a child-list change reads the node first; a request on a missing node reads its
  ancestors up to an existing one) remembers its generation, and the commit fails with EAGAIN
  only if one of those nodes changed (or appeared, or vanished) meanwhile. Watch events of
  a transaction are queued and fire at commit.

Watch events are reported to the caller (the server) as ``(path, exact, node, old_perms,
parent)`` tuples in ``Store.events`` (``parent`` is set for removed nodes, whose parent may
be gone by the time the event is delivered); the server decides who sees them.
"""

from __future__ import annotations

from .protocol import (
    PERM_ALL, PERM_NONE, PERM_OWNER, PERM_READ, PERM_WRITE, XsError, child_path, parent_of,
)

QUOTA_NODES = 1000
QUOTA_ENTRY_SIZE = 2048
QUOTA_PERMS = 5
# Size of a node record in xenstored's tdb: struct xs_tdb_record_hdr (24 bytes with padding)
# plus 8 bytes per struct xs_permissions, then the value and the NUL-separated child names.
RECORD_HEADER = 24
RECORD_PERM = 8


class Node:
    """One XenStore node. Nodes are never changed in place once stored: writers copy."""

    __slots__ = ("value", "perms", "children", "gen", "pgen")

    def __init__(self, value: bytes, perms, children: dict, gen: int, pgen: int):
        self.value = value
        self.perms = perms          # tuple of (domid, mask); [0] = owner + everyone else
        self.children = children    # dict name -> None, in creation order
        self.gen = gen              # generation of the last write
        self.pgen = pgen            # generation when the perms were decided

    def record_size(self) -> int:
        """Bytes this node takes in xenstored's data base (for the entry size quota)."""
        childlen = sum(len(name) + 1 for name in self.children)
        return RECORD_HEADER + RECORD_PERM * len(self.perms) + len(self.value) + childlen


class Caller:
    """Who issues a request: a domain id, whether it is privileged, and its target domain."""

    __slots__ = ("domid", "priv", "target")

    def __init__(self, domid: int, priv: bool, target: int | None = None):
        self.domid = domid
        self.priv = priv
        self.target = target


PRIVILEGED = Caller(0, True)


class Transaction:
    """A transaction: its private copies of changed nodes and what it looked at."""

    __slots__ = ("tid", "overlay", "accessed", "seen", "events", "owned_delta", "created")

    def __init__(self, tid: int):
        self.tid = tid
        self.overlay: dict = {}        # path -> Node, or None when removed in the transaction
        self.accessed: dict = {}       # path -> generation seen at first access (None: absent)
        self.seen: dict = {}           # path -> Node (or None) as seen at first access
        self.events: dict = {}         # path -> [exact, node, old_perms], fired at commit
        self.owned_delta: dict = {}    # domid -> change of owned-node count
        self.created = False


class Store:
    """The XenStore tree with xenstored's permission, quota and transaction rules."""

    def __init__(self):
        self.gen = 0
        root = Node(b"", ((0, PERM_NONE),), {}, 0, 0)
        self.nodes: dict = {"/": root}
        self.owned: dict = {0: 1}
        # Domains that exist, with the generation at which they appeared (dom0 always does).
        self.domains: dict = {0: 0}
        self.events: list = []
        # setup_structure(): /tool/xenstored exists from the start.
        self.write(PRIVILEGED, None, "/tool/xenstored", b"")
        self.events.clear()

    # ----------------------------------------------------------------------------- domains
    def add_domain(self, domid: int) -> None:
        """A domain appears (created by the toolstack)."""
        if domid not in self.domains:
            self.gen += 1
            self.domains[domid] = self.gen

    def remove_domain(self, domid: int) -> None:
        """A domain is gone: ACL entries naming it stop applying."""
        if domid != 0:
            self.domains.pop(domid, None)

    # ------------------------------------------------------------------------- permissions
    def perm_for(self, who: Caller, node: Node) -> int:
        """``perm_for_conn()``: the access mask ``who`` has on ``node``."""
        if who.priv:
            return PERM_ALL
        perms = node.perms
        owner = perms[0][0]
        if owner == who.domid or (who.target is not None and owner == who.target):
            return PERM_ALL
        for domid, mask in perms[1:]:
            if domid == who.domid or (who.target is not None and domid == who.target):
                created = self.domains.get(domid)
                if created is not None and created <= node.pgen:
                    return mask
        return perms[0][1]

    # ------------------------------------------------------------------------- node access
    def lookup(self, tx: Transaction | None, path: str) -> Node | None:
        """Read a node as the transaction (if any) sees it, recording the access."""
        if tx is None:
            return self.nodes.get(path)
        overlay = tx.overlay
        if path in overlay:
            return overlay[path]
        seen = tx.seen
        if path in seen:
            return seen[path]
        node = seen[path] = self.nodes.get(path)
        tx.accessed[path] = node.gen if node is not None else None
        return node

    def _nearest_ancestor(self, tx, path: str) -> Node:
        while path != "/":
            path = parent_of(path)
            node = self.lookup(tx, path)
            if node is not None:
                return node
        raise XsError("EIO")  # no root: cannot happen

    def get_node(self, who: Caller, tx, path: str, perm: int) -> Node:
        """``get_node()``: the node if ``who`` has ``perm`` on it, else XsError."""
        node = self.lookup(tx, path)
        if node is not None:
            if who.priv or (self.perm_for(who, node) & perm) == perm:
                return node
            err = "EACCES"
        else:
            err = "ENOENT"
        # errno_from_parents() reads the ancestors up to an existing one for every caller,
        # privileged too: in a transaction they are recorded like any read.
        ancestor = self._nearest_ancestor(tx, path)
        if who.priv:
            raise XsError(err)
        raise XsError(err if self.perm_for(who, ancestor) & perm else "EACCES")

    def _put(self, who: Caller, tx, path: str, node: Node, check_size: bool = True) -> None:
        """Store a new version of a node (in the transaction if there is one)."""
        if check_size and not who.priv and node.record_size() >= QUOTA_ENTRY_SIZE:
            raise XsError("ENOSPC")
        self.gen += 1
        node.gen = self.gen
        if tx is None:
            self.nodes[path] = node
        else:
            tx.overlay[path] = node

    def _delete(self, tx, path: str) -> None:
        if tx is None:
            del self.nodes[path]
        else:
            tx.overlay[path] = None

    def _own(self, tx, domid: int, delta: int) -> None:
        counts = self.owned if tx is None else tx.owned_delta
        counts[domid] = counts.get(domid, 0) + delta

    def _owned_now(self, tx, domid: int) -> int:
        count = self.owned.get(domid, 0)
        if tx is not None:
            count += tx.owned_delta.get(domid, 0)
        return count

    def _event(self, tx, path: str, exact: bool, node: Node, old_perms=None,
               parent: Node | None = None) -> None:
        if tx is None:
            self.events.append((path, exact, node, old_perms, parent))
            return
        queued = tx.events.get(path)
        if queued is None:
            tx.events[path] = [exact, node, old_perms, parent]
        else:
            queued[0] = queued[0] and exact  # a non-exact event replaces an exact one
            queued[1] = node
            queued[3] = parent

    # -------------------------------------------------------------------------- operations
    def read(self, who: Caller, tx, path: str) -> bytes:
        """XS_READ."""
        return self.get_node(who, tx, path, PERM_READ).value

    def directory(self, who: Caller, tx, path: str) -> list:
        """XS_DIRECTORY: child names in creation order."""
        return list(self.get_node(who, tx, path, PERM_READ).children)

    def get_perms(self, who: Caller, tx, path: str):
        """XS_GET_PERMS."""
        return self.get_node(who, tx, path, PERM_READ).perms

    def write(self, who: Caller, tx, path: str, value: bytes) -> None:
        """XS_WRITE: replace the value, creating the node and its ancestors if missing."""
        try:
            node = self.get_node(who, tx, path, PERM_WRITE)
        except XsError as exc:
            if exc.errno != "ENOENT":
                raise
            node = self._create(who, tx, path, value)
        else:
            node = Node(value, node.perms, node.children, 0, node.pgen)
            self._put(who, tx, path, node)
        self._event(tx, path, False, node)

    def mkdir(self, who: Caller, tx, path: str) -> None:
        """XS_MKDIR: create an empty node (and ancestors); an existing node is fine."""
        try:
            self.get_node(who, tx, path, PERM_WRITE)
        except XsError as exc:
            if exc.errno != "ENOENT":
                raise
            node = self._create(who, tx, path, b"")
            self._event(tx, path, False, node)

    def _create(self, who: Caller, tx, path: str, value: bytes) -> Node:
        """``create_node()``: ``path`` is missing and the caller may write its ancestor."""
        missing = [path]
        parent_path = parent_of(path)
        parent = self.lookup(tx, parent_path)
        while parent is None:
            missing.append(parent_path)
            parent_path = parent_of(parent_path)
            parent = self.lookup(tx, parent_path)
        perms = parent.perms
        if not who.priv:
            perms = ((who.domid, perms[0][1]),) + perms[1:]
            if self._owned_now(tx, who.domid) + len(missing) > QUOTA_NODES:
                raise XsError("ENOSPC")
        if tx is not None:
            tx.created = True
        owner = perms[0][0]
        # Build bottom-up in memory, then store top-down (parents first).
        new_nodes = []
        child = None
        for name in missing:
            node = Node(value if child is None else b"", perms,
                        {} if child is None else {child: None}, 0, parent.pgen)
            child = name[name.rfind("/") + 1:]
            new_nodes.append((name, node))
        top_children = dict(parent.children)
        top_children[child] = None
        updated_parent = Node(parent.value, parent.perms, top_children, 0, parent.pgen)
        # Size checks first so that nothing is half-written.
        if not who.priv:
            for _name, node in new_nodes + [(parent_path, updated_parent)]:
                if node.record_size() >= QUOTA_ENTRY_SIZE:
                    raise XsError("ENOSPC")
        self._put(who, tx, parent_path, updated_parent, check_size=False)
        for name, node in reversed(new_nodes):
            self._put(who, tx, name, node, check_size=False)
            self._own(tx, owner, 1)
        return new_nodes[0][1]

    def rm(self, who: Caller, tx, path: str) -> None:
        """XS_RM: remove a node and its subtree; removing a missing node is fine if its
        parent exists."""
        try:
            node = self.get_node(who, tx, path, PERM_WRITE)
        except XsError as exc:
            if exc.errno == "ENOENT" and self.lookup(tx, parent_of(path)) is not None:
                return
            raise
        if path == "/":
            raise XsError("EINVAL")
        parent_path = parent_of(path)
        parent = self.lookup(tx, parent_path)
        if parent is None:
            raise XsError("EINVAL")
        # Post-order walk like walk_node_tree() with delnode_sub() as exit function.
        stack = [(path, node, iter(list(node.children)))]
        while stack:
            cur_path, cur_node, children = stack[-1]
            for name in children:
                sub_path = child_path(cur_path, name)
                sub = self.lookup(tx, sub_path)
                if sub is not None:
                    stack.append((sub_path, sub, iter(list(sub.children))))
                    break
            else:
                stack.pop()
                self._delete(tx, cur_path)
                self._own(tx, cur_node.perms[0][0], -1)
                # The parent still existed when xenstored fired this event.
                self._event(tx, cur_path, cur_path != path, cur_node, None,
                            stack[-1][1] if stack else parent)
        children = dict(parent.children)
        children.pop(path[path.rfind("/") + 1:], None)
        self._put(who, tx, parent_path,
                  Node(parent.value, parent.perms, children, 0, parent.pgen), check_size=False)

    def set_perms(self, who: Caller, tx, path: str, perms) -> None:
        """XS_SET_PERMS on a node (``@`` names are the server's business)."""
        if not who.priv and len(perms) > QUOTA_PERMS:
            raise XsError("ENOSPC")
        if perms[0][0] not in self.domains:
            raise XsError("ENOENT")
        node = self.get_node(who, tx, path, PERM_WRITE | PERM_OWNER)
        if not who.priv and perms[0][0] != node.perms[0][0]:
            raise XsError("EPERM")
        new = Node(node.value, tuple(perms), node.children, 0, self.gen + 1)
        self._put(who, tx, path, new)
        if new.perms[0][0] != node.perms[0][0]:
            self._own(tx, node.perms[0][0], -1)
            self._own(tx, new.perms[0][0], 1)
        self._event(tx, path, False, new, node.perms)

    # ------------------------------------------------------------------------ transactions
    def commit(self, who: Caller, tx: Transaction) -> None:
        """TRANSACTION_END "T": EAGAIN if anything the transaction looked at changed."""
        if tx.created and not who.priv:
            for domid, delta in tx.owned_delta.items():
                if delta > 0 and self.owned.get(domid, 0) + delta >= QUOTA_NODES:
                    raise XsError("ENOSPC")
        nodes = self.nodes
        for path, gen in tx.accessed.items():
            node = nodes.get(path)
            if (node.gen if node is not None else None) != gen:
                raise XsError("EAGAIN")
        for path, node in tx.overlay.items():
            if node is None:
                nodes.pop(path, None)
            else:
                self.gen += 1
                node.gen = self.gen
                nodes[path] = node
        for domid, delta in tx.owned_delta.items():
            self.owned[domid] = self.owned.get(domid, 0) + delta
        for path, (exact, node, old_perms, parent) in tx.events.items():
            self.events.append((path, exact, node, old_perms, parent))

    # ------------------------------------------------------------------------------ helpers
    def walk(self, path: str = "/"):
        """Yield ``(path, node)`` for a subtree in depth-first pre-order (no checks)."""
        node = self.nodes.get(path)
        if node is None:
            return
        yield path, node
        for name in node.children:
            yield from self.walk(child_path(path, name))

    def owner_counts(self) -> dict:
        """Nodes owned per domain (for tests of the quota accounting)."""
        return {domid: count for domid, count in self.owned.items() if count}
