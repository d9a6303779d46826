"""Help text of the labelgraph datatype (served at ``/api/help/labelgraph`` and ``.../help``)."""

HELP = """labelgraph: a versioned, weighted, undirected graph of uint64 label vertices.

Each vertex, edge and property is its own versioned key: branches that edit different
vertices or edges merge without conflict, and the merge node drops edges left on a
vertex that one side deleted. Sync (clone, fetch, pull, push) moves only what changed.

Graph JSON (field names as DVID; Weight optional, default 0; ids 1 .. 2^64-1):
  {"Transactions": [{"Id": 12, "Trans": 3}],
   "Vertices": [{"Id": 12, "Weight": 100}],
   "Edges":    [{"Id1": 12, "Id2": 15, "Weight": 3.5}]}
Vertices and Edges are required unless ?unsafe=true (DVID's schema check).

HTTP (below /api/node/<uuid>/<name>/):
  GET     subgraph                 the whole graph; with a body listing Vertices: those
                                   vertices and every edge on them
  POST    subgraph                 add vertices and edges (weights set; an edge's vertices
                                   must exist or be in the body; existing edges are kept)
  DELETE  subgraph                 the listed vertices (with their edges and properties) and
                                   edges; with no body (or empty lists) the whole graph
  GET     neighbors/<vertex>       the vertex, its neighbours and its edges
  POST    merge[/nohistory]        merge the body's Vertices into the LAST one: weights summed
                                   (a non-zero weight of the last vertex, or an edge weight
                                   from it in Edges, is used instead)
  POST    weight                   add each weight to the vertex's or edge's (creating it);
                                   at most 1000 vertices
  GET|POST|DELETE  property/<v>/<key>         a vertex property (raw bytes; as DVID, an
                                              unset one reads as empty, and posting an
                                              empty body unsets it)
  GET|POST|DELETE  property/<v1>/<v2>/<key>   an edge property
  GET|POST propertytransaction/<edges|vertices>/<prop>
                                   DVID's binary transactions (uint64 LE): request nLock,
                                   (vertex, transID)*, nProps, (id1, [id2], [size, bytes])*;
                                   answer nLocked, (vertex, transID)*, nFailed, vertex*,
                                   and for GET nProps, (id1, [id2], size, bytes)*
  POST    undomerge                400: not implemented (as DVID)

CLI (every verb takes --node, --repo, --remote; reads take --json):
  dvidctl graph put NAME FILE|- [--add-weights]     dvidctl graph get NAME
  dvidctl graph add-vertex NAME V [-w W]          dvidctl graph add-edge NAME A B [-w W] [--create]
  dvidctl graph subgraph NAME V...                  dvidctl graph neighbors NAME V
  dvidctl graph components NAME                     dvidctl graph merge NAME V... KEEP [-w W]
  dvidctl graph delete NAME [-v V]... [-e A,B]... | --all
  dvidctl graph get-property|set-property|delete-property NAME V|A,B KEY [FILE|-]
"""
