/* lua_host.c: runs model.lua in a sandboxed Lua 5.4 state and builds the graph.
 * The DSL's own Lua library (dsl/, embedded in the binary) sits on top of the
 * primitives registered here as the table _C. Each primitive creates one node,
 * stamps it with the model.lua line and module path that made it, and infers its
 * shape at once, so a mismatch is reported at the user's line. model.lua gets only
 * the base, string, table, math and utf8 libraries: no io, os, package or dofile. */
#include "attncc.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TENSOR_MT "attncc.Tensor"
#define ERR_MARK '\x01'                    /* prefixes errors already formatted */
#ifndef INSTRUCTION_LIMIT_MILLIONS       /* the fuzz build (tests/fuzz) sets lower limits */
#define INSTRUCTION_LIMIT_MILLIONS 2000    /* a model that runs longer loops forever */
#endif
#ifndef MEMORY_LIMIT_MIB
#define MEMORY_LIMIT_MIB 4096
#endif
#define MEMORY_LIMIT ((size_t)MEMORY_LIMIT_MIB << 20)
#define MAX_NODES (1 << 20)

typedef struct {
  Graph *g;
  const HostOptions *o;
  const char *path;                        /* current module path */
  char *model_dir;
  long hook_calls;
  size_t mem_used;
} Host;

typedef struct {
  Node *n;
} Tensor;

static Host *host(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "attncc.host");
  Host *h = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return h;
}

/* The innermost stack frame that belongs to a user file (chunk named "@file"). */
static Loc dsl_loc(lua_State *L) {
  lua_Debug ar;
  for (int level = 0; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.source[0] == '@' && ar.currentline > 0) {
      Loc loc = {xstrdup(ar.source + 1), ar.currentline};
      return loc;
    }
  }
  Loc none = {host(L)->o->model_path, 0};
  return none;
}

static const char *format_at(lua_State *L, Loc loc, const char *msg) {
  Host *h = host(L);
  const char *in = h->path[0] ? xformat(" (in %s)", h->path) : "";
  if (loc.line)
    return xformat("%c%s:%d: error: %s%s", ERR_MARK, loc.file, loc.line, msg, in);
  return xformat("%c%s: error: %s%s", ERR_MARK, loc.file, msg, in);
}

static _Noreturn void dsl_error(lua_State *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static _Noreturn void dsl_error(lua_State *L, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lua_pushstring(L, format_at(L, dsl_loc(L), buf));
  lua_error(L);
  abort(); /* not reached */
}

/* ---- tensors ---- */

static void push_tensor(lua_State *L, Node *n) {
  Tensor *t = lua_newuserdatauv(L, sizeof(Tensor), 0);
  t->n = n;
  luaL_setmetatable(L, TENSOR_MT);
}

static Node *to_node(lua_State *L, int idx) {
  Tensor *t = luaL_testudata(L, idx, TENSOR_MT);
  return t ? t->n : NULL;
}

static Node *check_node(lua_State *L, int idx, const char *what) {
  Node *n = to_node(L, idx);
  if (!n)
    dsl_error(L, "%s: expected a tensor, got %s", what, luaL_typename(L, idx));
  return n;
}

static DType parse_dtype(lua_State *L, const char *s) {
  if (!strcmp(s, "float32") || !strcmp(s, "float"))
    return DT_F32;
  if (!strcmp(s, "int32") || !strcmp(s, "int64") || !strcmp(s, "int") || !strcmp(s, "long"))
    return DT_I32;
  if (!strcmp(s, "bool"))
    return DT_BOOL;
  dsl_error(L, "unknown dtype '%s' (expected float32, int32, int64 or bool)", s);
}

/* Adds a node, infers its shape, and raises a located error when that fails. */
static Node *add_node(lua_State *L, Node *proto, Node **src, int nsrc) {
  Host *h = host(L);
  if (h->g->nnodes >= MAX_NODES) /* graph memory is not counted by the Lua memory limit */
    dsl_error(L, "model.lua created more than %d operations", MAX_NODES);
  Node *n = graph_add(h->g, proto->op, src, nsrc, dsl_loc(L), h->path);
  n->axis = proto->axis;
  memcpy(n->perm, proto->perm, sizeof n->perm);
  n->start = proto->start;
  n->len = proto->len;
  n->keepdim = proto->keepdim;
  n->log = proto->log;
  n->trans_b = proto->trans_b;
  n->shape = proto->shape;
  n->dtype = proto->dtype;
  n->data = proto->data;
  n->name = proto->name;
  char msg[512];
  if (!shape_infer(n, msg, sizeof msg)) {
    h->g->nnodes--; /* keep the graph free of the failed node */
    dsl_error(L, "%s", msg);
  }
  if (shape_numel(&n->shape) > ((int64_t)1 << 40))
    dsl_error(L, "%s: the tensor would have more than 2^40 elements", op_names[n->op]);
  return n;
}

static Shape check_shape(lua_State *L, int idx, const char *what, bool allow_infer) {
  Shape s = {0, {0}};
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = luaL_len(L, idx);
  if (n > MAX_DIMS)
    dsl_error(L, "%s: at most %d dims are supported, got %lld", what, MAX_DIMS, (long long)n);
  s.ndim = (int)n;
  for (int i = 0; i < s.ndim; i++) {
    lua_geti(L, idx, i + 1);
    int isint = 0;
    lua_Integer d = lua_tointegerx(L, -1, &isint);
    if (!isint)
      dsl_error(L, "%s: dim %d is %s, expected an integer", what, i,
                lua_isnumber(L, -1) ? "not an integer" : luaL_typename(L, -1));
    if (d <= 0 && !(allow_infer && d == -1))
      dsl_error(L, "%s: dim %d is %lld, expected a positive size", what, i, (long long)d);
    if (d > ((lua_Integer)1 << 40))
      dsl_error(L, "%s: dim %d is too large (%lld)", what, i, (long long)d);
    s.dim[i] = d;
    lua_pop(L, 1);
  }
  return s;
}

/* A scalar argument becomes a 0-dim constant: integer Lua numbers are int32, others float32. */
static Node *scalar_node(lua_State *L, int idx) {
  Node proto = {0};
  proto.op = OP_CONST;
  if (lua_isinteger(L, idx) && llabs((long long)lua_tointeger(L, idx)) <= INT32_MAX) {
    int32_t *v = xalloc(sizeof *v);
    *v = (int32_t)lua_tointeger(L, idx);
    proto.dtype = DT_I32;
    proto.data = v;
  } else if (lua_type(L, idx) == LUA_TBOOLEAN) {
    uint8_t *v = xalloc(1);
    *v = (uint8_t)lua_toboolean(L, idx);
    proto.dtype = DT_BOOL;
    proto.data = v;
  } else {
    float *v = xalloc(sizeof *v);
    *v = (float)lua_tonumber(L, idx);
    proto.dtype = DT_F32;
    proto.data = v;
  }
  return add_node(L, &proto, NULL, 0);
}

static Node *operand(lua_State *L, int idx, const char *what) {
  if (lua_type(L, idx) == LUA_TNUMBER || lua_type(L, idx) == LUA_TBOOLEAN)
    return scalar_node(L, idx);
  return check_node(L, idx, what);
}

static OpCode op_by_name(lua_State *L, const char *name, OpKind k1, OpKind k2) {
  for (int i = 0; i < OP_COUNT; i++)
    if ((op_kinds[i] == k1 || op_kinds[i] == k2) && !strcmp(op_names[i], name))
      return (OpCode)i;
  dsl_error(L, "unknown operation '%s'", name);
}

static int dim_arg(lua_State *L, int idx, const char *what) {
  int isint = 0;
  lua_Integer d = lua_tointegerx(L, idx, &isint);
  if (!isint || d < -MAX_DIMS || d >= MAX_DIMS)
    dsl_error(L, "%s: dim must be an integer, got %s", what,
              lua_isnumber(L, idx) ? lua_tostring(L, idx) : luaL_typename(L, idx));
  return (int)d;
}

/* ---- primitives (_C table) ---- */

/* Names reach the output as C identifiers, comments and string literals: inputs and outputs
 * are identifiers, parameter and buffer names dotted identifiers (state_dict names). */
static const char *check_name(lua_State *L, int idx, const char *what, bool dotted) {
  const char *name = luaL_checkstring(L, idx);
  bool ok = (*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') || *name == '_' ||
            (dotted && *name >= '0' && *name <= '9');
  for (const char *c = name; ok && *c; c++)
    ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
         *c == '_' || (dotted && *c == '.' && c[1] && c[1] != '.');
  if (!ok)
    dsl_error(L, "%s: '%s' is not a valid name (letters, digits and '_'%s)", what, name,
              dotted ? ", parts joined by '.'" : ", not starting with a digit");
  return name;
}

static int l_input(lua_State *L) {
  Host *h = host(L);
  const char *name = check_name(L, 1, "input", false);
  for (int i = 0; i < h->g->ninputs; i++)
    if (!strcmp(h->g->inputs[i]->name, name))
      dsl_error(L, "input: '%s' is declared twice", name);
  Node proto = {0};
  proto.op = OP_INPUT;
  proto.shape = check_shape(L, 2, "input", false);
  proto.dtype = parse_dtype(L, luaL_optstring(L, 3, "float32"));
  proto.name = xstrdup(name);
  push_tensor(L, add_node(L, &proto, NULL, 0));
  return 1;
}

static int l_param(lua_State *L) {
  Node proto = {0};
  proto.op = OP_PARAM;
  proto.shape = check_shape(L, 1, "Parameter", false);
  proto.dtype = DT_F32;
  push_tensor(L, add_node(L, &proto, NULL, 0));
  return 1;
}

static int l_set_param_name(lua_State *L) {
  Node *n = check_node(L, 1, "set_param_name");
  n->name = xstrdup(check_name(L, 2, "parameter", true));
  return 0;
}

static int l_param_name(lua_State *L) {
  Node *n = check_node(L, 1, "param_name");
  lua_pushstring(L, n->name);
  return 1;
}

static int l_register_buffer_name(lua_State *L) {
  Graph *g = host(L)->g;
  const char *name = check_name(L, 1, "buffer", true);
  if (g->nbuffer_names == g->buffer_names_cap) {
    int cap = g->buffer_names_cap ? 2 * g->buffer_names_cap : 16;
    const char **p = xalloc(sizeof *p * (size_t)cap);
    if (g->nbuffer_names)
      memcpy(p, g->buffer_names, sizeof *p * (size_t)g->nbuffer_names);
    g->buffer_names = p;
    g->buffer_names_cap = cap;
  }
  g->buffer_names[g->nbuffer_names++] = xstrdup(name);
  return 0;
}

/* _C.const(flat_values, shape, dtype) */
static int l_const(lua_State *L) {
  Node proto = {0};
  proto.op = OP_CONST;
  luaL_checktype(L, 1, LUA_TTABLE);
  proto.shape = check_shape(L, 2, "tensor", false);
  proto.dtype = parse_dtype(L, luaL_optstring(L, 3, "float32"));
  int64_t n = shape_numel(&proto.shape);
  if (luaL_len(L, 1) != n)
    dsl_error(L, "tensor: %lld values given for a shape of %lld elements",
              (long long)luaL_len(L, 1), (long long)n);
  void *data = xalloc(dtype_size(proto.dtype) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    if (!lua_isnumber(L, -1) && !lua_isboolean(L, -1))
      dsl_error(L, "tensor: value %lld is %s, expected a number", (long long)i,
                luaL_typename(L, -1));
    double v = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : lua_tonumber(L, -1);
    if (proto.dtype == DT_F32)
      ((float *)data)[i] = (float)v;
    else if (proto.dtype == DT_I32)
      ((int32_t *)data)[i] = (int32_t)v;
    else
      ((uint8_t *)data)[i] = v != 0;
    lua_pop(L, 1);
  }
  proto.data = data;
  push_tensor(L, add_node(L, &proto, NULL, 0));
  return 1;
}

static int l_unary(lua_State *L) {
  const char *opname = luaL_checkstring(L, 1);
  Node proto = {0};
  proto.op = op_by_name(L, opname, OK_UNARY, OK_UNARY);
  Node *a = operand(L, 2, opname);
  if (proto.op == OP_CAST)
    proto.dtype = parse_dtype(L, luaL_checkstring(L, 3));
  if (proto.op == OP_EXPAND)
    proto.shape = check_shape(L, 3, "expand", false);
  push_tensor(L, add_node(L, &proto, &a, 1));
  return 1;
}

static int l_binary(lua_State *L) {
  const char *opname = luaL_checkstring(L, 1);
  Node proto = {0};
  proto.op = op_by_name(L, opname, OK_BINARY, OK_COMPARE);
  if (!to_node(L, 2) && !to_node(L, 3))
    dsl_error(L, "%s: expected at least one tensor operand", opname);
  Node *src[2] = {operand(L, 2, opname), operand(L, 3, opname)};
  push_tensor(L, add_node(L, &proto, src, 2));
  return 1;
}

static int l_where(lua_State *L) {
  Node proto = {0};
  proto.op = OP_WHERE;
  Node *src[3] = {check_node(L, 1, "where"), operand(L, 2, "where"), operand(L, 3, "where")};
  push_tensor(L, add_node(L, &proto, src, 3));
  return 1;
}

static int l_matmul(lua_State *L) {
  Node proto = {0};
  proto.op = OP_MATMUL;
  Node *src[2] = {check_node(L, 1, "matmul"), check_node(L, 2, "matmul")};
  proto.trans_b = lua_toboolean(L, 3);
  push_tensor(L, add_node(L, &proto, src, 2));
  return 1;
}

static int l_reshape(lua_State *L) {
  Node proto = {0};
  proto.op = OP_RESHAPE;
  Node *a = check_node(L, 1, "reshape");
  proto.shape = check_shape(L, 2, "reshape", true);
  push_tensor(L, add_node(L, &proto, &a, 1));
  return 1;
}

static int l_permute(lua_State *L) {
  Node proto = {0};
  proto.op = OP_PERMUTE;
  Node *a = check_node(L, 1, "permute");
  luaL_checktype(L, 2, LUA_TTABLE);
  if (luaL_len(L, 2) != a->shape.ndim) {
    char sa[96];
    shape_format(&a->shape, sa, sizeof sa);
    dsl_error(L, "permute: %lld dims given for shape %s", (long long)luaL_len(L, 2), sa);
  }
  bool identity = true;
  for (int i = 0; i < a->shape.ndim; i++) {
    lua_geti(L, 2, i + 1);
    proto.perm[i] = dim_arg(L, -1, "permute");
    identity &= shape_norm_dim(proto.perm[i], a->shape.ndim) == i;
    lua_pop(L, 1);
  }
  if (identity) { /* nothing moves: the same tensor */
    lua_pushvalue(L, 1);
    return 1;
  }
  push_tensor(L, add_node(L, &proto, &a, 1));
  return 1;
}

static int l_narrow(lua_State *L) {
  Node proto = {0};
  proto.op = OP_SLICE;
  Node *a = check_node(L, 1, "narrow");
  proto.axis = dim_arg(L, 2, "narrow");
  proto.start = luaL_checkinteger(L, 3);
  proto.len = luaL_checkinteger(L, 4);
  push_tensor(L, add_node(L, &proto, &a, 1));
  return 1;
}

static int l_cat(lua_State *L) {
  Node proto = {0};
  proto.op = OP_CAT;
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)luaL_len(L, 1);
  if (n < 1)
    dsl_error(L, "cat: expected a non-empty list of tensors");
  Node **src = xalloc(sizeof(Node *) * (size_t)n);
  for (int i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    src[i] = check_node(L, -1, "cat");
    lua_pop(L, 1);
  }
  proto.axis = dim_arg(L, 2, "cat");
  push_tensor(L, add_node(L, &proto, src, n));
  return 1;
}

static int l_gather(lua_State *L) {
  Node proto = {0};
  proto.op = OP_GATHER;
  Node *src[2] = {check_node(L, 1, "index"), check_node(L, 2, "index")};
  push_tensor(L, add_node(L, &proto, src, 2));
  return 1;
}

static int l_softmax(lua_State *L) {
  Node proto = {0};
  proto.op = OP_SOFTMAX;
  Node *a = check_node(L, 1, "softmax");
  proto.axis = dim_arg(L, 2, "softmax");
  proto.log = lua_toboolean(L, 3);
  push_tensor(L, add_node(L, &proto, &a, 1));
  return 1;
}

static int l_reduce(lua_State *L) {
  const char *opname = luaL_checkstring(L, 1);
  Node proto = {0};
  proto.op = op_by_name(L, opname, OK_REDUCE, OK_REDUCE);
  Node *a = check_node(L, 2, opname);
  proto.axis = dim_arg(L, 3, opname);
  proto.keepdim = lua_toboolean(L, 4);
  push_tensor(L, add_node(L, &proto, &a, 1));
  return 1;
}

static int l_output(lua_State *L) {
  Graph *g = host(L)->g;
  const char *name = check_name(L, 1, "output", false);
  Node *n = check_node(L, 2, "output");
  for (int i = 0; i < g->noutputs; i++)
    if (!strcmp(g->outputs[i].name, name))
      dsl_error(L, "output: '%s' is declared twice", name);
  for (int i = 0; i < g->ninputs; i++)
    if (!strcmp(g->inputs[i]->name, name))
      dsl_error(L, "output: '%s' is already the name of an input", name);
  graph_add_output(g, xstrdup(name), n);
  return 0;
}

static int l_set_path(lua_State *L) {
  Host *h = host(L);
  lua_pushstring(L, h->path);
  h->path = xstrdup(luaL_checkstring(L, 1));
  return 1;
}

static int l_shape(lua_State *L) {
  Node *n = check_node(L, 1, "shape");
  lua_createtable(L, n->shape.ndim, 0);
  for (int i = 0; i < n->shape.ndim; i++) {
    lua_pushinteger(L, n->shape.dim[i]);
    lua_seti(L, -2, i + 1);
  }
  return 1;
}

static int l_dtype(lua_State *L) {
  lua_pushstring(L, dtype_name(check_node(L, 1, "dtype")->dtype));
  return 1;
}

static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, to_node(L, 1) != NULL);
  return 1;
}

static int l_error(lua_State *L) { dsl_error(L, "%s", luaL_checkstring(L, 1)); }

static int l_define(lua_State *L) {
  Host *h = host(L);
  const char *name = luaL_checkstring(L, 1);
  const char *value = NULL; /* the last -D NAME=... wins, as with a C compiler */
  for (int i = 0; i < h->o->ndefines; i++) {
    Define *d = &h->o->defines[i];
    if (!strcmp(d->name, name)) {
      d->used = true;
      value = d->value;
    }
  }
  if (!value)
    lua_pushnil(L);
  else if (lua_stringtonumber(L, value) == 0)
    lua_pushstring(L, value);
  return 1;
}

/* a short description of the node, for error messages about it */
static int l_describe(lua_State *L) {
  Node *n = check_node(L, 1, "describe");
  lua_pushstring(L, xformat("%s created at %s:%d", op_names[n->op], n->loc.file, n->loc.line));
  return 1;
}

static const luaL_Reg c_funcs[] = {
    {"input", l_input},       {"param", l_param},
    {"set_param_name", l_set_param_name},
    {"param_name", l_param_name},
    {"register_buffer_name", l_register_buffer_name},
    {"const", l_const},       {"unary", l_unary},
    {"binary", l_binary},     {"where", l_where},
    {"matmul", l_matmul},     {"reshape", l_reshape},
    {"permute", l_permute},   {"narrow", l_narrow},
    {"cat", l_cat},           {"gather", l_gather},
    {"softmax", l_softmax},   {"reduce", l_reduce},
    {"output", l_output},     {"set_path", l_set_path},
    {"shape", l_shape},       {"dtype", l_dtype},
    {"is_tensor", l_is_tensor}, {"error", l_error},
    {"define", l_define},     {"describe", l_describe},
    {NULL, NULL},
};

/* ---- sandbox ---- */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  Host *h = ud;
  if (!ptr)
    osize = 0;
  if (nsize == 0) {
    free(ptr);
    h->mem_used -= osize;
    return NULL;
  }
  if (nsize > osize && h->mem_used + (nsize - osize) > MEMORY_LIMIT)
    return NULL;
  void *p = realloc(ptr, nsize);
  if (p)
    h->mem_used += nsize - osize;
  return p;
}

static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (++host(L)->hook_calls > INSTRUCTION_LIMIT_MILLIONS) {
    /* from now on every instruction fails, so a pcall in model.lua cannot go on looping */
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    dsl_error(L, "model.lua ran for more than %d million Lua instructions (an endless loop?)",
              INSTRUCTION_LIMIT_MILLIONS);
  }
}

static int l_print(lua_State *L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++)
    fprintf(stderr, "%s%s", i > 1 ? "\t" : "", luaL_tolstring(L, i, NULL));
  fputc('\n', stderr);
  return 0;
}

/* load(chunk [, name [, mode [, env]]]) restricted to text chunks */
static int l_safe_load(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, "=(load)");
  if (name[0] == '@')
    name = xformat("=%s", name + 1);
  int status = luaL_loadbufferx(L, s, len, name, "t");
  if (status != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (!lua_isnoneornil(L, 4)) {
    lua_pushvalue(L, 4);
    if (!lua_setupvalue(L, -2, 1))
      lua_pop(L, 1);
  }
  return 1;
}

static bool valid_module_name(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (!(*s == '_' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z')))
      return false;
  return true;
}

static int run_user_file(lua_State *L, const char *path, const char *display);

/* require(name): name.lua beside the model file, loaded once */
static int l_require(lua_State *L) {
  Host *h = host(L);
  const char *name = luaL_checkstring(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "attncc.loaded");
  if (lua_getfield(L, -1, name) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);
  if (!valid_module_name(name) || strstr(name, ".."))
    dsl_error(L, "require: '%s' is not a module name (letters, digits, '_' and '.')", name);
  char *rel = xstrdup(name);
  for (char *p = rel; *p; p++)
    if (*p == '.')
      *p = '/';
  const char *file = h->model_dir[0] ? xformat("%s/%s.lua", h->model_dir, rel)
                                     : xformat("%s.lua", rel);
  FILE *f = fopen(file, "rb");
  if (!f)
    dsl_error(L, "require: module '%s' not found (looked for %s beside the model)", name, file);
  fclose(f);
  run_user_file(L, file, file);
  Graph *g = h->g; /* remembered for make depfiles (-MD) */
  const char **src = xalloc(sizeof(char *) * (size_t)(g->nsources + 1));
  for (int i = 0; i < g->nsources; i++)
    src[i] = g->sources[i];
  src[g->nsources++] = xstrdup(file);
  g->sources = src;
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  return 1;
}

/* the whole file (NUL bytes included, so the Lua parser sees them), or NULL with errno set */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t n = 0, cap = 65536;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger)
        free(buf);
      buf = bigger;
    }
  }
  int failed = !buf || ferror(f);
  int err = buf ? errno : ENOMEM;
  fclose(f);
  if (failed) {
    free(buf);
    errno = err;
    return NULL;
  }
  char *out = xalloc(n + 1);
  memcpy(out, buf, n);
  free(buf);
  *len = n;
  return out;
}

/* Turns a Lua error "src:line: text" into the compiler's "file:line: error: text". */
static const char *format_lua_error(lua_State *L, const char *msg) {
  if (msg[0] == ERR_MARK)
    return msg;
  const char *colon = strchr(msg, ':');
  bool user_pos = msg[0] != '[' && colon && colon[1] >= '0' && colon[1] <= '9';
  if (user_pos) {
    const char *rest = strchr(colon + 1, ':');
    if (rest) {
      Host *h = host(L);
      const char *in = h->path[0] ? xformat(" (in %s)", h->path) : "";
      return xformat("%c%.*s: error: %s%s", ERR_MARK, (int)(rest - msg), msg,
                     rest[1] == ' ' ? rest + 2 : rest + 1, in);
    }
  }
  /* inside the DSL library, or no position: point at the user's line */
  if (msg[0] == '[') {
    const char *rest = strstr(msg, ": ");
    if (rest)
      msg = rest + 2;
  }
  return format_at(L, dsl_loc(L), msg);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg)
    msg = xformat("(error object is a %s value)", luaL_typename(L, 1));
  msg = format_lua_error(L, msg);
  if (host(L)->o->traceback) {
    luaL_traceback(L, L, msg, 1);
    return 1;
  }
  lua_pushstring(L, msg);
  return 1;
}

/* Loads a user file as chunk "@display" and calls it; leaves its first result. */
static int run_user_file(lua_State *L, const char *path, const char *display) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text)
    dsl_error(L, "cannot read %s: %s", path, strerror(errno));
  if (len >= 1 && text[0] == '\x1b')
    dsl_error(L, "%s%sprecompiled Lua chunks are not accepted",
              path == host(L)->o->model_path ? "" : display, /* a required file is named */
              path == host(L)->o->model_path ? "" : ": ");
  if (luaL_loadbufferx(L, text, len, xformat("@%s", display), "t") != LUA_OK) {
    lua_pushstring(L, format_lua_error(L, lua_tostring(L, -1)));
    lua_error(L);
  }
  lua_call(L, 0, 1);
  return 1;
}

static bool run_embedded(lua_State *L, const char *name) {
  const EmbeddedFile *f = embedded_find(name);
  ATTN_ASSERT(f);
  if (luaL_loadbufferx(L, f->text, f->len, xformat("=[attncc]%s", name), "t") != LUA_OK ||
      lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "attncc: internal error in %s: %s\n", name, lua_tostring(L, -1));
    return false;
  }
  return true;
}

static void open_sandbox(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},     {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8},  {NULL, NULL}};
  for (const luaL_Reg *lib = libs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  static const char *const removed[] = {"dofile", "loadfile", "collectgarbage", NULL};
  for (int i = 0; removed[i]; i++) {
    lua_pushnil(L);
    lua_setglobal(L, removed[i]);
  }
  lua_pushcfunction(L, l_safe_load);
  lua_setglobal(L, "load");
  lua_pushcfunction(L, l_print);
  lua_setglobal(L, "print");
  lua_pushcfunction(L, l_require);
  lua_setglobal(L, "require");
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "attncc.loaded");
  /* string.dump would hand out bytecode: not needed by models */
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
}

static int pmain(lua_State *L) {
  Host *h = lua_touserdata(L, 1);
  lua_pushlightuserdata(L, h);
  lua_setfield(L, LUA_REGISTRYINDEX, "attncc.host");
  open_sandbox(L);
  luaL_newmetatable(L, TENSOR_MT);
  lua_pop(L, 1);
  luaL_newlib(L, c_funcs);
  luaL_getmetatable(L, TENSOR_MT);
  lua_setfield(L, -2, "tensor_mt");
  lua_setglobal(L, "_C");
  if (!run_embedded(L, "prelude.lua") || !run_embedded(L, "nn.lua"))
    return luaL_error(L, "%cattncc: internal error: DSL library failed to load", ERR_MARK);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000000);
  run_user_file(L, h->o->model_path, h->o->model_path);
  lua_pop(L, 1);
  lua_sethook(L, NULL, 0, 0);
  h->path = "";
  lua_getglobal(L, "_attncc_finish");
  lua_call(L, 0, 0);
  return 0;
}

static bool check_outputs(Graph *g, const char *model_path) {
  if (g->noutputs == 0) {
    fprintf(stderr, "%s: error: the model declares no outputs (call output(name, tensor))\n",
            model_path);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < g->noutputs; i++) {
    const Node *n = g->outputs[i].node;
    if (!graph_depends_on_input(g, n)) {
      fprintf(stderr, "%s:%d: error: output '%s' does not depend on any input\n", n->loc.file,
              n->loc.line, g->outputs[i].name);
      ok = false;
    }
  }
  return ok;
}

Graph *lua_host_run(const HostOptions *o) {
  Host h = {0};
  h.g = graph_new();
  h.o = o;
  h.path = "";
  h.model_dir = xstrdup(o->model_path);
  char *slash = strrchr(h.model_dir, '/');
  if (slash)
    *slash = 0;
  else
    h.model_dir[0] = 0;
  lua_State *L = lua_newstate(limited_alloc, &h);
  if (!L) {
    fprintf(stderr, "attncc: error: cannot create a Lua state\n");
    return NULL;
  }
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &h);
  cpu_limit_arm(o->model_path, o->time_limit);
  int status = lua_pcall(L, 1, 0, 1);
  cpu_limit_disarm();
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (status == LUA_ERRMEM) /* raised without a message handler, so without a line */
      msg = xformat("%s: error: model.lua used more than %d MiB of memory", o->model_path,
                    MEMORY_LIMIT_MIB);
    else if (!msg)
      msg = "?";
    if (msg[0] == ERR_MARK)
      msg++;
    fprintf(stderr, "%s\n", msg);
    lua_close(L);
    return NULL;
  }
  lua_close(L);
  const char **src = xalloc(sizeof(char *) * (size_t)(h.g->nsources + 1));
  src[0] = o->model_path;
  for (int i = 0; i < h.g->nsources; i++)
    src[i + 1] = h.g->sources[i];
  h.g->sources = src;
  h.g->nsources++;
  for (int i = 0; i < o->ndefines; i++)
    if (!o->defines[i].used)
      fprintf(stderr, "%s: warning: -D %s is not read by the model\n", o->model_path,
              o->defines[i].name);
  if (!check_outputs(h.g, o->model_path))
    return NULL;
  return h.g;
}
