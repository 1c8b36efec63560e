/* tapserve/plus/share.c: {tap}/share and {tap}/users, TAP+ sharing as
 * astroquery's TapPlus speaks it (share_group_create, share_group_delete,
 * share_group_add_user, share_group_delete_user, share_table,
 * share_table_stop, load_groups, load_shared_items, is_valid_user). Its
 * forms arrive unencoded ("title=my group"), each value as TapPlus wrote it.
 *
 *   GET|POST share?action=GetGroups          <sharedGroups>: the caller's
 *     groups, then those it is a member of
 *   GET|POST share?action=GetSharedItems     <sharedItems>: the caller's shares
 *   POST action=CreateOrUpdateGroup title description [group_id] [users_list]
 *     without group_id a new group; with it the group changes, and with
 *     users_list ("a,b,c", user names) its members become those
 *   POST action=RemoveGroup group_id
 *   POST action=CreateOrUpdateItem resource_type=0 title=user_x.t description
 *     items_list=<group id>|Group|Read[,...]
 *   POST action=RemoveItem resource_id=<item id> [resource_type=0]
 *   GET users?USER=name   "name:name" when such a user exists, "" when not
 *
 * Both need a login (401 with the challenge of the other resources). A
 * shared item is one share: one table with one group. The work runs on
 * libuv's pool (jobs/shares.h); every answer is 200 or a DALI error
 * document (400, 401, 403, 404, 405). */
#include "jobs/shares.h"
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARE_LOGIN "log in to share tables (POST login, or HTTP Basic)"

enum {
  SHARE_BODY_MAX = 16 << 20, /* a GetGroups or GetSharedItems answer */
  SHARE_ITEMS_MAX = 100,     /* groups one CreateOrUpdateItem names */
};

typedef enum {
  SH_GET_GROUPS,
  SH_GET_ITEMS,
  SH_PUT_GROUP,
  SH_REMOVE_GROUP,
  SH_PUT_ITEM,
  SH_REMOVE_ITEM,
  SH_USER, /* {tap}/users */
} share_action;

typedef struct share_req {
  share_action action;
  const char *title, *description, *user;
  int64_t group_id; /* PUT_GROUP: 0 for a new group; REMOVE_GROUP */
  int64_t item_id;  /* REMOVE_ITEM */
  int64_t *groups;  /* PUT_ITEM: items_list */
  size_t ngroups;
  jobs_group_change change; /* PUT_GROUP of an existing group */
} share_req;

/* ---- parameters (untrusted; tests/fuzz/fuzz_share.c) ------------------------ */

static ts_err parse_id(const char *name, const char *v, int64_t *out, ts_error *err)
{
  if (!v || ts_parse_int64(v, out) || *out <= 0)
    return ts_fail(err, TS_EINVAL, 0, "%s must be a number, not \"%.40s\"", name, v ? v : "");
  return TS_OK;
}

/* items_list: "<group id>|Group|Read" items, comma-separated. */
static ts_err parse_items(const char *list, ts_arena *a, share_req *q, ts_error *err)
{
  size_t cap = 1;
  for (const char *s = list; *s; s++)
    cap += *s == ',';
  if (cap > SHARE_ITEMS_MAX)
    return ts_fail(err, TS_EINVAL, 0, "items_list names more than %d groups", SHARE_ITEMS_MAX);
  q->groups = ts_arena_calloc(a, cap, sizeof *q->groups);
  if (!q->groups)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (const char *s = list; *s;) {
    size_t len = strcspn(s, ",");
    const char *bar1 = memchr(s, '|', len), *bar2 = NULL;
    char id[24];
    if (bar1)
      bar2 = memchr(bar1 + 1, '|', len - (size_t)(bar1 + 1 - s));
    if (!bar2 || (size_t)(bar1 - s) >= sizeof id)
      return ts_fail(err, TS_EINVAL, 0, "items_list: \"%.*s\" is not <group id>|Group|Read",
                     (int)(len < 80 ? len : 80), s);
    memcpy(id, s, (size_t)(bar1 - s));
    id[bar1 - s] = 0;
    if (parse_id("the group id of items_list", id, &q->groups[q->ngroups], err))
      return TS_EINVAL;
    if (bar2 - bar1 - 1 != 5 || !ts_strncaseeq(bar1 + 1, "Group", 5))
      return ts_fail(err, TS_EINVAL, 0, "items_list: tables are shared with a Group");
    if (s + len - bar2 - 1 != 4 || !ts_strncaseeq(bar2 + 1, "Read", 4))
      return ts_fail(err, TS_EINVAL, 0, "items_list: a share is Read (the only mode)");
    q->ngroups++;
    s += len + (s[len] == ',');
  }
  if (q->ngroups == 0)
    return ts_fail(err, TS_EINVAL, 0, "CreateOrUpdateItem needs items_list=<group id>|Group|Read");
  return TS_OK;
}

/* users_list: user names, comma-separated, blanks around each ignored,
 * empty items skipped ("" empties the group). */
static ts_err parse_users(const char *list, ts_arena *a, share_req *q, ts_error *err)
{
  size_t cap = 1;
  const char **m;
  for (const char *s = list; *s; s++)
    cap += *s == ',';
  if (cap > JOBS_GROUP_MEMBERS_MAX)
    return ts_fail(err, TS_EINVAL, 0, "a group has at most %d members", JOBS_GROUP_MEMBERS_MAX);
  m = ts_arena_calloc(a, cap, sizeof *m);
  if (!m)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  q->change.set_members = 1;
  q->change.members = m;
  for (const char *s = list; *s;) {
    size_t len = strcspn(s, ",");
    size_t lead = strspn(s, " \t"), end = len;
    while (end > lead && (s[end - 1] == ' ' || s[end - 1] == '\t'))
      end--;
    if (end > lead) {
      char *name = ts_arena_strndup(a, s + lead, end - lead);
      if (!name)
        return ts_fail(err, TS_ENOMEM, 0, "out of memory");
      if (!jobs_user_name_ok(name))
        return ts_fail(err, TS_EINVAL, 0, "users_list: \"%.80s\" is not a user name", name);
      m[q->change.nmembers++] = name;
    }
    s += len + (s[len] == ',');
  }
  return TS_OK;
}

static ts_err check_resource_type(const http_param *p, size_t np, ts_error *err)
{
  const char *t = plus__param(p, np, "resource_type");
  if (t && strcmp(t, "0"))
    return ts_fail(err, TS_EINVAL, 0, "resource_type must be 0 (a table), not \"%.40s\"", t);
  return TS_OK;
}

/* The request's action and its parameters into q. TS_EINVAL, or
 * TS_EMETHOD for a change asked with GET. */
static ts_err parse_share(const http_param *p, size_t np, int post, ts_arena *a, share_req *q,
                          ts_error *err)
{
  const char *action = plus__param(p, np, "action");
  const char *v;
  memset(q, 0, sizeof *q);
  if (!action)
    return ts_fail(err, TS_EINVAL, 0,
                   "share needs an action: GetGroups, GetSharedItems, CreateOrUpdateGroup, "
                   "RemoveGroup, CreateOrUpdateItem or RemoveItem");
  if (ts_strcaseeq(action, "GetGroups")) {
    q->action = SH_GET_GROUPS;
    return TS_OK;
  }
  if (ts_strcaseeq(action, "GetSharedItems")) {
    q->action = SH_GET_ITEMS;
    return TS_OK;
  }
  if (ts_strcaseeq(action, "CreateOrUpdateGroup"))
    q->action = SH_PUT_GROUP;
  else if (ts_strcaseeq(action, "RemoveGroup"))
    q->action = SH_REMOVE_GROUP;
  else if (ts_strcaseeq(action, "CreateOrUpdateItem"))
    q->action = SH_PUT_ITEM;
  else if (ts_strcaseeq(action, "RemoveItem"))
    q->action = SH_REMOVE_ITEM;
  else
    return ts_fail(err, TS_EINVAL, 0,
                   "unknown share action \"%.40s\": GetGroups, GetSharedItems, "
                   "CreateOrUpdateGroup, RemoveGroup, CreateOrUpdateItem or RemoveItem",
                   action);
  if (!post)
    return ts_fail(err, TS_EMETHOD, 0, "%.40s is a POST", action);
  q->title = plus__param(p, np, "title");
  q->description = plus__param(p, np, "description");
  switch (q->action) {
  case SH_PUT_GROUP:
    v = plus__param(p, np, "group_id");
    if (v && *v) {
      if (parse_id("group_id", v, &q->group_id, err))
        return TS_EINVAL;
      q->change.title = q->title;
      q->change.description = q->description;
      v = plus__param(p, np, "users_list");
      return v ? parse_users(v, a, q, err) : TS_OK;
    }
    if (!q->title)
      return ts_fail(err, TS_EINVAL, 0, "CreateOrUpdateGroup needs a title");
    if (plus__param(p, np, "users_list"))
      return ts_fail(err, TS_EINVAL, 0,
                     "users_list changes the members of a group: name it with group_id");
    return TS_OK;
  case SH_REMOVE_GROUP:
    return parse_id("group_id", plus__param(p, np, "group_id"), &q->group_id, err);
  case SH_PUT_ITEM:
    if (check_resource_type(p, np, err))
      return TS_EINVAL;
    if (!q->title || !*q->title)
      return ts_fail(err, TS_EINVAL, 0, "CreateOrUpdateItem needs the table as title");
    v = plus__param(p, np, "items_list");
    return parse_items(v ? v : "", a, q, err);
  default: /* SH_REMOVE_ITEM */
    if (check_resource_type(p, np, err))
      return TS_EINVAL;
    return parse_id("resource_id", plus__param(p, np, "resource_id"), &q->item_id, err);
  }
}

/* ---- answers ------------------------------------------------------------------ */

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static ts_err put_text(ts_buf *b, const char *open, const char *s, const char *close)
{
  ts_err rc = ts_buf_puts(b, open);
  if (!rc)
    rc = ts_buf_xml(b, s, strlen(s));
  if (!rc)
    rc = ts_buf_puts(b, close);
  return rc;
}

static ts_err groups_xml(const jobs_group *g, size_t n, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, XML_HEAD "<sharedGroups>\n");
  for (size_t i = 0; !rc && i < n; i++) {
    rc = ts_buf_printf(b, "  <sharedGroup id=\"%lld\"", (long long)g[i].id);
    if (!rc)
      rc = put_text(b, " owner=\"", g[i].owner, "\">\n");
    if (!rc)
      rc = put_text(b, "    <title>", g[i].title, "</title>\n");
    if (!rc)
      rc = put_text(b, "    <description>", g[i].description, "</description>\n");
    if (!rc)
      rc = ts_buf_puts(b, "    <users>\n");
    for (size_t j = 0; !rc && j < g[i].nmembers; j++) {
      /* a user's id is its name: what is_valid_user and users_list take */
      rc = put_text(b, "      <user id=\"", g[i].members[j], "\"");
      if (!rc)
        rc = put_text(b, " name=\"", g[i].members[j], "\"/>\n");
    }
    if (!rc)
      rc = ts_buf_puts(b, "    </users>\n  </sharedGroup>\n");
  }
  return rc ? rc : ts_buf_puts(b, "</sharedGroups>\n");
}

static ts_err items_xml(const jobs_share *s, size_t n, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, XML_HEAD "<sharedItems>\n");
  for (size_t i = 0; !rc && i < n; i++) {
    rc = ts_buf_printf(b, "  <sharedItem id=\"%lld\" type=\"0\">\n", (long long)s[i].id);
    if (!rc)
      rc = put_text(b, "    <title>", s[i].table, "</title>\n");
    if (!rc)
      rc = put_text(b, "    <description>", s[i].description, "</description>\n");
    if (!rc)
      rc = ts_buf_printf(b,
                         "    <sharedToItems>\n"
                         "      <sharedToItem shareTo=\"%lld\" shareType=\"Group\" "
                         "shareMode=\"Read\"/>\n"
                         "    </sharedToItems>\n  </sharedItem>\n",
                         (long long)s[i].group_id);
  }
  return rc ? rc : ts_buf_puts(b, "</sharedItems>\n");
}

/* ---- the run on libuv's pool ---------------------------------------------------- */

typedef struct share_op {
  uv_work_t work;
  ts_app *app;
  http_request *req;
  share_req *q;
  int xml; /* the body is XML, else text */
  ts_err rc;
  ts_error err;
  ts_buf body;
} share_op;

static ts_err body_oom(ts_err rc, ts_error *err)
{
  return rc ? ts_fail(err, rc, 0, "the answer does not fit in %d bytes", SHARE_BODY_MAX) : TS_OK;
}

static ts_err share_do(share_op *o, PGconn *conn, const jobs_user *u, ts_error *err)
{
  share_req *q = o->q;
  ts_arena *a = o->req->arena;
  ts_err rc;
  int64_t id = 0;
  switch (q->action) {
  case SH_GET_GROUPS: {
    jobs_group *g;
    size_t n;
    o->xml = 1;
    rc = jobs_groups_visible(conn, a, u, &g, &n, err);
    return rc ? rc : body_oom(groups_xml(g, n, &o->body), err);
  }
  case SH_GET_ITEMS: {
    jobs_share *s;
    size_t n;
    o->xml = 1;
    rc = jobs_shares_own(conn, a, u, &s, &n, err);
    return rc ? rc : body_oom(items_xml(s, n, &o->body), err);
  }
  case SH_PUT_GROUP:
    if (q->group_id) {
      rc = jobs_group_update(conn, u, q->group_id, &q->change, err);
      id = q->group_id;
    } else {
      rc = jobs_group_create(conn, u, q->title, q->description, &id, err);
    }
    return rc ? rc : body_oom(ts_buf_printf(&o->body, "OK group %lld\n", (long long)id), err);
  case SH_REMOVE_GROUP:
    rc = jobs_group_delete(conn, u, q->group_id, err);
    return rc ? rc : body_oom(ts_buf_puts(&o->body, "OK group removed\n"), err);
  case SH_PUT_ITEM:
    rc = jobs_share_put(conn, u, q->title, q->description, q->groups, q->ngroups, err);
    return rc ? rc : body_oom(ts_buf_puts(&o->body, "OK table shared\n"), err);
  case SH_REMOVE_ITEM:
    rc = jobs_share_remove(conn, u, q->item_id, err);
    return rc ? rc : body_oom(ts_buf_puts(&o->body, "OK share removed\n"), err);
  default: { /* SH_USER */
    int yes = 0;
    rc = jobs_user_name_ok(q->user) ? jobs_share_user_exists(conn, q->user, &yes, err) : TS_OK;
    if (!rc && yes)
      rc = body_oom(ts_buf_printf(&o->body, "%s:%s\n", q->user, q->user), err);
    return rc;
  }
  }
}

static void op_work(uv_work_t *w)
{
  share_op *o = w->data;
  ts_who who;
  PGconn *conn = plus__user_conn(o->app, o->req, SHARE_LOGIN, &who, &o->err);
  if (!conn) {
    o->rc = o->err.code;
    return;
  }
  o->rc = share_do(o, conn, &who.user, &o->err);
  jobs_db_put(o->app->db, conn);
  if (o->q->action != SH_GET_GROUPS && o->q->action != SH_GET_ITEMS && o->q->action != SH_USER)
    ts_log(TS_LOG_INFO, o->req->reqid, "user %s: share: %s", who.user.name,
           o->rc ? o->err.msg : "done");
}

static void op_after(uv_work_t *w, int status)
{
  share_op *o = w->data;
  (void)status;
  if (o->rc == TS_EMETHOD)
    tap_send_error_headers(o->req, &o->err, "Allow: POST\r\n");
  else if (o->rc)
    tap_send_error(o->req, &o->err);
  else
    http_respond(o->req, 200, o->xml ? "text/xml; charset=utf-8" : "text/plain; charset=utf-8",
                 "Cache-Control: no-store\r\n", o->body.data ? o->body.data : "", o->body.len);
  ts_buf_free(&o->body);
  free(o);
}

/* Answers at once with o's error, or runs q on the pool. */
static void share_run(ts_app *app, http_request *req, share_req *q, ts_err rc, ts_error *e)
{
  share_op *o = calloc(1, sizeof *o);
  if (!o) {
    ts_fail(e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, e);
    return;
  }
  o->app = app;
  o->req = req;
  o->q = q;
  o->rc = rc;
  o->err = *e;
  ts_buf_init(&o->body, SHARE_BODY_MAX);
  o->work.data = o;
  if (!o->rc && !plus_has_credentials(req))
    o->rc = ts_fail(&o->err, TS_EAUTH, 0, "%s", SHARE_LOGIN);
  if (!o->rc && !app->db)
    o->rc = ts_fail(&o->err, TS_EUNAVAIL, 0, "sharing needs the database, which is not available");
  if (o->rc) {
    op_after(&o->work, 0);
    return;
  }
  /* once queued, o is the pool's: op_after answers and frees it */
  if (uv_queue_work(app->loop, &o->work, op_work, op_after) != 0) {
    o->rc = ts_fail(&o->err, TS_EINTERNAL, 0, "cannot queue the request");
    op_after(&o->work, 0);
  }
}

void plus_share(ts_app *app, http_request *req)
{
  http_param *p = NULL;
  size_t np = 0;
  share_req *q = ts_arena_calloc(req->arena, 1, sizeof *q);
  ts_error e;
  ts_err rc;
  ts_error_clear(&e);
  rc = q ? http_request_params(req, &p, &np, &e) : ts_fail(&e, TS_ENOMEM, 0, "out of memory");
  if (!rc)
    rc = parse_share(p, np, !strcmp(req->method, "POST"), req->arena, q, &e);
  share_run(app, req, q, rc, &e);
}

void plus_users(ts_app *app, http_request *req)
{
  http_param *p = NULL;
  size_t np = 0;
  share_req *q = ts_arena_calloc(req->arena, 1, sizeof *q);
  ts_error e;
  ts_err rc;
  ts_error_clear(&e);
  rc = q ? http_request_params(req, &p, &np, &e) : ts_fail(&e, TS_ENOMEM, 0, "out of memory");
  if (!rc) {
    q->action = SH_USER;
    q->user = plus__param(p, np, "USER");
    if (!q->user || !*q->user)
      rc = ts_fail(&e, TS_EINVAL, 0, "users needs USER=<user name>");
  }
  share_run(app, req, q, rc, &e);
}
