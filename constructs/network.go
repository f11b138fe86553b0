package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// unknownVPCID and unknownAZ stand in for the VPC that holds the config's
// subnets and its availability zones. The config names subnets and
// security groups only, which is all a function's VpcConfig needs, but the
// CDK's Function wants an IVpc to select the subnets from. Nothing reads
// the VPC's id or zones when the subnets and security groups are given (no
// security group is created in the VPC), so the placeholders never reach a
// template (a test checks it), and the IVpc is not exported, so that no
// user code builds on it.
const (
	unknownVPCID = "vpc-xflow-unknown"
	unknownAZ    = "xflow-unknown-az"
)

// Network places functions in existing subnets with existing security
// groups. A function in it exposes its security groups through
// Function().Connections() as usual, e.g. to open a database's port to it.
type Network struct {
	Subnets        []awsec2.ISubnet
	SecurityGroups []awsec2.ISecurityGroup
	vpc            awsec2.IVpc
}

// ImportNetwork refers to the subnets and security groups of v by id: no
// lookup, no context query, nothing created.
func ImportNetwork(scope constructs.Construct, id string, v *spec.VPC) *Network {
	if v == nil {
		return nil
	}
	this := constructs.NewConstruct(scope, &id)
	n := &Network{
		vpc: placeholderVPC(this),
	}
	for _, s := range v.SubnetIDs {
		n.Subnets = append(n.Subnets, awsec2.Subnet_FromSubnetId(this, jsii.String(s), jsii.String(s)))
	}
	for _, g := range v.SecurityGroupIDs {
		n.SecurityGroups = append(n.SecurityGroups, awsec2.SecurityGroup_FromSecurityGroupId(this, jsii.String(g), jsii.String(g), nil))
	}
	return n
}

// placeholderVPC is the IVpc the CDK's Function wants beside explicit
// subnets and security groups (see unknownVPCID).
func placeholderVPC(scope constructs.Construct) awsec2.IVpc {
	return awsec2.Vpc_FromVpcAttributes(scope, jsii.String("Vpc"), &awsec2.VpcAttributes{
		VpcId:             jsii.String(unknownVPCID),
		AvailabilityZones: jsii.Strings(unknownAZ),
	})
}
