-- Loaded by busted before the specs (see .busted): makes spec/support modules requirable
-- whatever --lpath the caller passes (tools/test.sh passes its own).
package.path = "spec/support/?.lua;" .. package.path
