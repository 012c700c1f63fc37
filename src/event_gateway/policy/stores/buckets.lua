-- Every limit of one request, judged and charged atomically. A bucket is GCRA (see
-- policy/gcra.py, whose `evaluate` this mirrors) or a window bucket (policy/window.py,
-- likewise). KEYS: the buckets, all in one hash slot.
-- ARGV[1]: "1" to charge, "0" to look only; then per key: interval (µs), burst, and
-- the window (µs; 0 for GCRA).
-- Returns {allowed, retry_after_us, remaining_1, reset_after_us_1, exceeded_1, ...}.
-- Time is Redis's own, so every gateway process agrees on it whatever its clock says.
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: allow TIME before writes
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local EPSILON = 1  -- µs of slack for float rounding
local consume = ARGV[1] == '1'
local allowed = 1
local retry_after = 0
local out = {0, 0}
local verdicts = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3 * i - 1])
  local burst = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  if window > 0 then
    -- A window bucket is stored as "<end µs> <tokens taken>"; missing or ended: full.
    local finish, taken = now + window, 0
    local raw = redis.call('GET', KEYS[i])
    if raw then
      local stored_end, stored_taken = string.match(raw, '^(%d+) (%d+)$')
      if stored_end and tonumber(stored_end) > now then
        finish, taken = tonumber(stored_end), tonumber(stored_taken)
      end
    end
    local ok = taken < burst
    if not ok then
      allowed = 0
      retry_after = math.max(retry_after, finish - now)
    end
    verdicts[i] = {ok, true, finish, taken, burst}
  else
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    local debt = math.max(tat - now, 0)
    local capacity = burst * interval
    local after = debt + interval
    local ok = after <= capacity + EPSILON
    if not ok then
      allowed = 0
      retry_after = math.max(retry_after, after - capacity)
    end
    verdicts[i] = {ok, false, debt, after, capacity, interval}
  end
end
-- Check everything first, then write only if everything passed: a denial is free.
local charge = allowed == 1 and consume
for i = 1, #KEYS do
  local v = verdicts[i]
  local ok = v[1]
  if v[2] then
    local finish, taken, burst = v[3], v[4], v[5]
    if charge then
      -- Kept until the window ends: then a missing key is the full bucket it is.
      redis.call('SET', KEYS[i], string.format('%d %d', finish, taken + 1), 'PX', math.ceil((finish - now) / 1000))
      out[#out + 1] = burst - taken - 1
      out[#out + 1] = finish - now
    else
      out[#out + 1] = math.max(burst - taken, 0)
      out[#out + 1] = taken > 0 and (finish - now) or 0
    end
  else
    local debt, after, capacity, interval = v[3], v[4], v[5], v[6]
    if charge then
      -- The TTL is the time until the bucket is full again: a missing key IS a full
      -- bucket, so idle buckets vanish without changing any answer.
      redis.call('SET', KEYS[i], string.format('%.17g', now + after), 'PX', math.ceil(after / 1000))
      out[#out + 1] = math.max(math.floor((capacity - after) / interval + 1e-6), 0)
      out[#out + 1] = math.ceil(after)
    else
      -- Nothing charged: report the bucket as it stands.
      out[#out + 1] = math.max(math.floor((capacity - debt) / interval + 1e-6), 0)
      out[#out + 1] = math.ceil(debt)
    end
  end
  out[#out + 1] = ok and 0 or 1
end
out[1] = allowed
out[2] = math.ceil(retry_after)
return out
