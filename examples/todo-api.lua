-- A small JSON API with h2lua.router: a todo list kept in memory, served
-- over h2c and HTTP/1.1 on one port (the last step of docs/tutorial.md).
--   h2lua examples/todo-api.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:8080/todos
--   curl --http2-prior-knowledge -H 'authorization: Bearer s3cret' \
--     -d '{"title":"write the docs"}' http://127.0.0.1:8080/todos
local http2 = require "http2"
local router = require "h2lua.router"
local json = require "h2lua.json"

local TOKEN = "Bearer s3cret"
local todos, next_id = {}, 1 -- id -> { id =, title =, done =, tags = }

local app = router.new({ maxBody = 64 * 1024 })

-- Reading is open to all; changing the list needs the token.
app:use(function(req)
  local reads = req.method == "GET" or req.method == "HEAD" or req.method == "OPTIONS"
  if not reads and req.headers.authorization ~= TOKEN then
    return 401, { error = "a token is needed to change the list" },
      { ["www-authenticate"] = "Bearer" }
  end
end)

-- Every answer says how long it took.
app:use(function(req) req.started = os.clock() end)
app:after(function(req, res)
  local ms = (os.clock() - (req.started or os.clock())) * 1000
  res.headers["server-timing"] = ("app;dur=%.3f"):format(ms)
end)

-- The body of a new or changed todo, checked.
local function todo_fields(req, partial)
  local body = req:json()
  if type(body) ~= "table" then error(router.error(400, "a JSON object is expected")) end
  if not partial or body.title ~= nil then
    if type(body.title) ~= "string" or body.title == "" then
      error(router.error(422, "title: a non-empty string"))
    end
  end
  if body.done ~= nil and type(body.done) ~= "boolean" then
    error(router.error(422, "done: true or false"))
  end
  if body.tags ~= nil and type(body.tags) ~= "table" then
    error(router.error(422, "tags: a list of strings"))
  end
  return body
end

local function find(req)
  local todo = todos[tonumber(req.params.id)]
  if not todo then error(router.error(404, "no todo " .. req.params.id)) end
  return todo
end

-- GET /todos[?done=true|false][&tag=a&tag=b]: the list, oldest first
app:get("/todos", function(req)
  local want_done = req.query.done
  local tags = req.query.tag
  if type(tags) == "string" then tags = { tags } end
  local list = json.array()
  for id = 1, next_id - 1 do
    local t = todos[id]
    local keep = t ~= nil
    if keep and want_done ~= nil then keep = tostring(t.done) == want_done end
    for _, tag in ipairs(keep and tags or {}) do
      local has = false
      for _, x in ipairs(t.tags) do has = has or x == tag end
      keep = keep and has
    end
    if keep then list[#list + 1] = t end
  end
  return list
end)

app:post("/todos", function(req)
  local body = todo_fields(req, false)
  local todo = { id = next_id, title = body.title, done = body.done or false,
    tags = json.array(body.tags or {}) }
  todos[next_id] = todo
  next_id = next_id + 1
  return 201, todo, { location = "/todos/" .. todo.id }
end)

app:get("/todos/:id", function(req) return find(req) end)

app:patch("/todos/:id", function(req)
  local todo = find(req)
  local body = todo_fields(req, true)
  if body.title ~= nil then todo.title = body.title end
  if body.done ~= nil then todo.done = body.done end
  if body.tags ~= nil then todo.tags = json.array(body.tags) end
  return todo
end)

app:delete("/todos/:id", function(req)
  todos[find(req).id] = nil
  return 204
end)

-- One shape for every error: {"error": ..., "status": ...}
app:onError(function(req, err)
  if router.isHttpError(err) then
    return err.status, { error = err.message, status = err.status }
  end
  return 500, { error = "something broke on our side", status = 500 }
end)

local port = tonumber(arg and arg[1]) or 8080
local server = http2.createServer({ allowHTTP1 = true }, app:request())
server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
