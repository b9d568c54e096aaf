-- recover.lua - this node's pop for GET TOKEN on inbox NAME got no
-- answer (Redis went away mid-call): whatever it took is put back.
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME TOKEN.  Returns 1.
local name, token = ARGV[12], ARGV[13]
set_xkey(KEYS[4])
if exists(name) then
	requeue_dead(name, token, {})
	finish()
end
return 1
