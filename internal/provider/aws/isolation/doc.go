// Package isolation holds what isolating an EC2 instance means, for the
// real provider and the simulated cloud alike: the names of the groups and
// network ACL it uses, the tags that record what it changed, and the ways
// it can end connections that security group tracking keeps alive, with
// their risks and the AWS documentation they follow.
//
// It is pure computation: it must not import a cloud SDK.
package isolation
