-- Argo CD health check for Switchboard's Workspace and Integration.
-- Install it under resource.customizations.health.tenancy.switchboard.dev_Workspace
-- and ..._Integration in argocd-cm (see docs/gitops.md). The operator sets
-- status.phase, status.observedGeneration and a Ready condition.
local hs = { status = "Progressing", message = "waiting for the operator" }
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "being deleted"
  return hs
end
if obj.status == nil then
  return hs
end
local ready = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
local function explain()
  if ready ~= nil and ready.message ~= nil then
    return ready.reason .. ": " .. ready.message
  end
  return obj.status.phase or "no Ready condition yet"
end
-- A failed spec (an unknown databaseServer, a namespace no Workspace owns) is
-- not observed as a generation, so check the phase before the generation.
if obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = explain()
  return hs
end
if obj.status.observedGeneration == nil or obj.metadata.generation == nil or obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "the operator has not yet acted on the latest spec"
  return hs
end
if obj.status.phase == "Suspended" or obj.status.phase == "Disconnected" then
  hs.status = "Suspended"
  hs.message = explain()
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = explain()
  return hs
end
hs.message = explain()
return hs
