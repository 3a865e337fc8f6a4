-- The tag table used by 50-enrich-tags: which vSphere tags ("Category:Tag") each VM carries.
-- Edit it for your inventory, then SIGHUP (modules are reloaded with the scripts).
--
-- by_moref is checked first: a managed object reference ("vm-101") survives renames but is only
-- unique within one vCenter. by_name is the VM's display name, for readability.
-- A small script (PowerCLI: Get-VM | Get-TagAssignment) can generate this file.
return {
  by_moref = {
    ["vm-101"] = { "env:production", "owner:web-team", "backup:gold" },
    ["vm-102"] = { "env:production", "owner:dba-team", "backup:platinum" },
  },
  by_name = {
    ["web-02"] = { "env:production", "owner:web-team" },
    ["app-new-01"] = { "env:development", "owner:app-team" },
  },
}
