-- Every limit of one request, judged and charged atomically (GCRA; see policy/gcra.py,
-- whose `evaluate` this mirrors). KEYS: the buckets, all in one hash slot.
-- ARGV[1]: "1" to charge, "0" to look only; then per key: interval (µs), burst.
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
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  local debt = math.max(tat - now, 0)
  local capacity = burst * interval
  local after = debt + interval
  local ok = after <= capacity + EPSILON
  if not ok then
    allowed = 0
    retry_after = math.max(retry_after, after - capacity)
  end
  verdicts[i] = {ok, debt, after, capacity, interval}
end
-- Check everything first, then write only if everything passed: a denial is free.
local charge = allowed == 1 and consume
for i = 1, #KEYS do
  local ok, debt, after, capacity, interval = unpack(verdicts[i])
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
  out[#out + 1] = ok and 0 or 1
end
out[1] = allowed
out[2] = math.ceil(retry_after)
return out
